// SHA-256 (FIPS 180-4), used to record and compare model files. Incremental,
// so large models hash without a second copy in memory. On x86-64 processors
// with the SHA extensions it uses them: about 4x the portable code on the
// development machine (1.2 GB/s against 0.3 GB/s, scripts/bench/sha256_rate.sh),
// whose speed cost a 440 MB model 1.7 s of start-up on every rank.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mpsbatch {

class Sha256 {
 public:
  enum class Impl { kBest, kPortable };
  explicit Sha256(Impl impl = Impl::kBest);
  void Update(const void* data, size_t size);
  // Finishes the digest; the object must not be updated afterwards.
  std::string HexDigest();

  // True if kBest uses the processor's SHA instructions here.
  static bool Accelerated();

 private:
  void Blocks(const uint8_t* p, size_t blocks);
  bool accelerated_;
  std::array<uint32_t, 8> h_;
  std::array<uint8_t, 64> buf_{};
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

std::string Sha256Hex(std::string_view data);

}  // namespace mpsbatch
