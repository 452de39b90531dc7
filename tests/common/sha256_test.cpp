#include "common/sha256.h"

#include <gtest/gtest.h>

namespace mpsbatch {

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256, IncrementalEqualsOneShot) {
  std::string data(1000003, 'a');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>('a' + i % 26);
  Sha256 s;
  for (size_t at = 0; at < data.size(); at += 4099)
    s.Update(data.data() + at, std::min<size_t>(4099, data.size() - at));
  EXPECT_EQ(s.HexDigest(), Sha256Hex(data));
}

TEST(Sha256, MillionAs) {
  EXPECT_EQ(Sha256Hex(std::string(1000000, 'a')), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

// The processor's SHA instructions (where this machine has them) and the
// portable code agree on every length around the block size and on data fed
// in pieces that split blocks.
TEST(Sha256, AcceleratedAndPortableAgree) {
  std::string data(70000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 2654435761u) >> 13);
  for (size_t n : {0, 1, 55, 56, 63, 64, 65, 127, 128, 129, 1000, 65536, 70000}) {
    Sha256 best, portable(Sha256::Impl::kPortable);
    best.Update(data.data(), n);
    portable.Update(data.data(), n);
    EXPECT_EQ(best.HexDigest(), portable.HexDigest()) << n << " bytes";
  }
  Sha256 pieces;
  for (size_t at = 0; at < data.size(); at += 37)
    pieces.Update(data.data() + at, std::min<size_t>(37, data.size() - at));
  Sha256 whole(Sha256::Impl::kPortable);
  whole.Update(data.data(), data.size());
  EXPECT_EQ(pieces.HexDigest(), whole.HexDigest());
  if (!Sha256::Accelerated()) GTEST_SKIP() << "no SHA instructions here: only the portable code ran";
}

}  // namespace mpsbatch
