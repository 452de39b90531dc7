// KeepFreedMemory: a thread that allocates, fills and frees a batch's worth
// of large blocks again and again touches new pages only the first time.
#include "common/heap.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cstdlib>
#include <cstring>
#include <thread>

namespace mpsbatch {
namespace {

// Page faults of this thread so far (each a page the kernel had to supply).
long ThreadPageFaults() {
  rusage usage{};
  getrusage(RUSAGE_THREAD, &usage);
  return usage.ru_minflt;
}

TEST(Heap, BlocksFreedAfterABatchAreReusedByTheNext) {
#if !defined(__GLIBC__)
  GTEST_SKIP() << "KeepFreedMemory changes only glibc's malloc";
#endif
  KeepFreedMemory();
  constexpr size_t kBlock = 12 << 20, kBlocks = 3;  // 36 MiB a "batch": glibc would trim it
  long faults = 0, pages = 0;
  std::thread([&] {  // a thread of its own, as the rank loop's compute thread
    for (int batch = 0; batch < 10; ++batch) {
      const long before = ThreadPageFaults();
      void* blocks[kBlocks];
      for (auto& b : blocks) {
        b = std::malloc(kBlock);
        ASSERT_NE(b, nullptr);
        std::memset(b, 1, kBlock);
      }
      for (auto* b : blocks) std::free(b);
      if (batch == 0) continue;  // the first batch maps its pages
      faults += ThreadPageFaults() - before;
      pages += static_cast<long>(kBlocks * kBlock / 4096);
    }
  })
      .join();
  // glibc's defaults fault in every page of every batch (82,688 of 82,944).
  EXPECT_LT(faults, pages / 10) << faults << " page faults for " << pages << " pages touched after the first batch";
}

}  // namespace
}  // namespace mpsbatch
