// The journal's writer: a torn tail cut off before it appends, and a burst
// of chunks recorded by its syncing thread, each once.
#include "write/journal_writer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "test_util.h"
#include "write/partial_file.h"
#include "write/result_writer.h"

namespace mpsbatch {

namespace {

using JournalWriterTest = testing::Hdf5FolderTest;

}  // namespace

// A record cut short by a crash is ignored, and cut off before the resumed
// run appends, so later records stay aligned.
TEST_F(JournalWriterTest, TornJournalRecordIsDroppedBeforeAppending) {
  const std::string out = Path("out.h5");
  {
    ResultWriter w(out, {{"y", DType::kFloat32, {}}}, 4, "rows: 4\n", 1);
    w.MarkChunkDone(1);
    w.KeepForResume();
  }
  { std::ofstream(JournalPath(out), std::ios::binary | std::ios::app) << "abc"; }  // 3 bytes of a torn record
  EXPECT_EQ(ReadPartial(out)->done, (std::vector<int64_t>{1}));
  {
    auto w = ResultWriter::Reopen(out, {{"y", DType::kFloat32, {}}}, 4);
    w->MarkChunkDone(3);
  }
  EXPECT_EQ(ReadPartial(out)->done, (std::vector<int64_t>{1, 3}));
}

// The journal is written by a thread of its own, one fsync pair for all the
// chunks marked done meanwhile: a burst of chunks ends up recorded, each once.
TEST_F(JournalWriterTest, ChunksMarkedDoneInABurstAreAllRecordedOnce) {
  const std::string out = Path("out.h5");
  constexpr int64_t kRows = 1000;
  {
    ResultWriter w(out, {{"y", DType::kInt64, {}}}, kRows, "rows: 1000\n", 1);
    for (int64_t i = 0; i < kRows; ++i) {
      w.WriteRows(0, i, 1, reinterpret_cast<const std::byte*>(&i));
      w.MarkChunkDone(i);
    }
    w.Sync();
    std::vector<int64_t> all(kRows);
    for (int64_t i = 0; i < kRows; ++i) all[static_cast<size_t>(i)] = i;
    EXPECT_EQ(ReadPartial(out)->done, all);
    w.KeepForResume();
  }
  EXPECT_EQ(std::filesystem::file_size(JournalPath(out)), 32 + kRows * 16);  // a header, a record per chunk
}

}  // namespace mpsbatch
