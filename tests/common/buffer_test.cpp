#include "common/buffer.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <set>

#include "common/dtype.h"

namespace mpsbatch {
namespace {

// A stand-in for the CUDA engine's page-locked memory: malloc, counted.
std::set<void*>& Given() {
  static std::set<void*> given;
  return given;
}
int frees = 0;

struct FakeSource : BlockSource {
  void* Allocate(size_t bytes) override {
    void* p = std::malloc(bytes);
    Given().insert(p);
    return p;
  }
  void Free(void* p) override {
    Given().erase(p);
    ++frees;
    std::free(p);
  }
};
FakeSource fake_source;

TEST(Buffer, BlocksOfAMebibyteAndUpComeFromTheSourceOnceSet) {
  const size_t big = size_t{3} << 20;
  HostArray before(DType::kUInt8, {static_cast<int64_t>(big)});
  EXPECT_FALSE(FromBlockSource(before.bytes.data(), 1));

  SetBlockSource(fake_source);
  HostArray small(DType::kUInt8, {1000});
  HostArray rows(DType::kFloat32, {1024, 256});  // 1 MiB
  EXPECT_FALSE(FromBlockSource(small.bytes.data(), small.bytes.size()));
  ASSERT_TRUE(FromBlockSource(rows.bytes.data(), rows.bytes.size()));
  EXPECT_EQ(Given().count(rows.bytes.data()), 1u);

  // A batch is a slice of a chunk's block: inside counts, past the end not.
  const ArrayView slice = RowSlice(rows, 512, 1024);
  EXPECT_TRUE(FromBlockSource(slice.data, 512 * rows.row_bytes()));
  EXPECT_FALSE(FromBlockSource(slice.data, 513 * rows.row_bytes()));
  EXPECT_FALSE(FromBlockSource(before.bytes.data(), 1));  // acquired before: malloc's
  EXPECT_FALSE(FromBlockSource(rows.bytes.data(), 0));
}

TEST(Buffer, ReleasedSourceBlocksAreReusedNotFreed) {
  SetBlockSource(fake_source);
  const void* first = nullptr;
  {
    HostArray a(DType::kUInt8, {int64_t{2} << 20});
    first = a.bytes.data();
  }
  HostArray b(DType::kUInt8, {int64_t{2} << 20});
  EXPECT_EQ(b.bytes.data(), first);
  EXPECT_TRUE(FromBlockSource(b.bytes.data(), b.bytes.size()));
  EXPECT_EQ(frees, 0);
}

TEST(Buffer, PinnedBytesAreCappedPerProcess) {
  SetBlockSource(fake_source);
  const int64_t gib = int64_t{1} << 30;  // malloc'd, never touched: address space only
  HostArray a(DType::kUInt8, {gib}), b(DType::kUInt8, {gib}), c(DType::kUInt8, {gib});
  EXPECT_TRUE(FromBlockSource(a.bytes.data(), 1));
  EXPECT_FALSE(FromBlockSource(c.bytes.data(), 1));  // past 2 GiB: malloc's
  // (b is the source's only when no other test of this process holds any.)
}

}  // namespace
}  // namespace mpsbatch
