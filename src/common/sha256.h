// SHA-256 (FIPS 180-4), used to record and compare model files. Incremental,
// so large models hash without a second copy in memory.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mpsbatch {

class Sha256 {
 public:
  Sha256();
  void Update(const void* data, size_t size);
  // Finishes the digest; the object must not be updated afterwards.
  std::string HexDigest();

 private:
  void Block(const uint8_t* p);
  std::array<uint32_t, 8> h_;
  std::array<uint8_t, 64> buf_{};
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

std::string Sha256Hex(std::string_view data);

}  // namespace mpsbatch
