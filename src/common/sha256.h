// SHA-256, used to record and compare model files: OpenSSL's digest (EVP),
// which runs on the processor's SHA instructions where it has them (x86-64
// SHA extensions, ARMv8 crypto). Incremental, so large models hash without a
// second copy in memory.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX; only sha256.cpp sees OpenSSL

namespace mpsbatch {

class Sha256 {
 public:
  // Throws InternalError if OpenSSL cannot start a digest.
  Sha256();
  void Update(const void* data, size_t size);
  // Finishes the digest (64 lowercase hex digits); the object must not be
  // updated afterwards.
  std::string HexDigest();

 private:
  struct FreeContext {
    void operator()(evp_md_ctx_st* ctx) const;
  };
  std::unique_ptr<evp_md_ctx_st, FreeContext> ctx_;
};

std::string Sha256Hex(std::string_view data);

}  // namespace mpsbatch
