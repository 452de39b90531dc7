// SHA-256 against the digests of FIPS 180-4's examples and NIST's additional
// SHA-256 test vectors, whole and fed in pieces that split blocks.
#include "common/sha256.h"

#include <gtest/gtest.h>

namespace mpsbatch {

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Sha256Hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
                      "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"),
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

// NIST's additional vectors: one byte, and zeros around the padding's edge
// (55 bytes leave room for the length in the last block, 56 do not).
TEST(Sha256, NistAdditionalVectors) {
  EXPECT_EQ(Sha256Hex("\xbd"), "68325720aabd7c82f30f554b313d0570c95accbb7dc4b5aae11204c08ffe732b");
  EXPECT_EQ(Sha256Hex(std::string(55, '\0')), "02779466cdec163811d078815c633f21901413081449002f24aa3e80f0b88ef7");
  EXPECT_EQ(Sha256Hex(std::string(56, '\0')), "d4817aa5497628e7c77e6b606107042bbba3130888c5f47a375e6179be789fbb");
  EXPECT_EQ(Sha256Hex(std::string(57, '\0')), "65a16cb7861335d5ace3c60718b5052e44660726da4cd13bb745381b235a1785");
  EXPECT_EQ(Sha256Hex(std::string(64, '\0')), "f5a5fd42d16a20302798ef6ed309979b43003d2320d9f0e8ea9831a92759fb4b");
  EXPECT_EQ(Sha256Hex(std::string(1000, '\0')), "541b3e9daa09b20bf85fa273e5cbd3e80185aa4ec298e765db87742b70138a53");
}

TEST(Sha256, MillionAs) {
  EXPECT_EQ(Sha256Hex(std::string(1000000, 'a')), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, IncrementalEqualsOneShot) {
  std::string data(1000003, 'a');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>('a' + i % 26);
  for (size_t piece : {1, 37, 64, 4099}) {
    Sha256 s;
    for (size_t at = 0; at < data.size(); at += piece) s.Update(data.data() + at, std::min(piece, data.size() - at));
    EXPECT_EQ(s.HexDigest(), Sha256Hex(data)) << "pieces of " << piece;
  }
}

TEST(Sha256, MillionAsInPiecesThatSplitBlocks) {
  const std::string piece(999, 'a');  // 1000000 = 1001 * 999 + 1
  Sha256 s;
  for (int i = 0; i < 1001; ++i) s.Update(piece.data(), piece.size());
  s.Update("a", 1);
  EXPECT_EQ(s.HexDigest(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

}  // namespace mpsbatch
