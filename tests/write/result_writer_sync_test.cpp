// The writer's syncing thread when fsync fails: the failure reaches the
// caller as an OutputError naming the file, and the journal keeps only the
// chunks recorded before it. fdatasync is replaced in this binary (the
// library's calls resolve to it) by one that fails on demand. And the commit
// syncs the output's folder: fsync is replaced by one that records the
// folders it syncs and fails on demand.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <filesystem>
#include <string>
#include <vector>

#include "common/error.h"
#include "hdf5/handle.h"
#include "test_util.h"
#include "write/result_writer.h"

namespace {

// fdatasync calls left before they fail with EIO; -1: never fail.
std::atomic<int> g_calls_before_failing{-1};

}  // namespace

extern "C" int fdatasync(int fd) {
  static auto real = reinterpret_cast<int (*)(int)>(dlsym(RTLD_NEXT, "fdatasync"));
  int left = g_calls_before_failing.load();
  while (left > 0 && !g_calls_before_failing.compare_exchange_weak(left, left - 1)) {
  }
  if (left == 0) {
    errno = EIO;
    return -1;
  }
  return real(fd);
}

namespace {

// The inodes of the folders fsync was called on; fail folder fsyncs if set.
std::vector<ino_t> g_synced_folders;
std::atomic<bool> g_fail_folder_sync{false};

}  // namespace

extern "C" int fsync(int fd) {
  static auto real = reinterpret_cast<int (*)(int)>(dlsym(RTLD_NEXT, "fsync"));
  struct stat st {};
  if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    g_synced_folders.push_back(st.st_ino);
    if (g_fail_folder_sync) {
      errno = EIO;
      return -1;
    }
  }
  return real(fd);
}

namespace mpsbatch {
namespace {

class ResultWriterSyncTest : public testing::Hdf5FolderTest {
 protected:
  void TearDown() override {
    g_calls_before_failing = -1;
    g_fail_folder_sync = false;
  }
};

const std::byte* Bytes(const int64_t& v) { return reinterpret_cast<const std::byte*>(&v); }

// What w.Sync() threw ("" if it returned).
std::string SyncError(ResultWriter& w) {
  try {
    w.Sync();
  } catch (const OutputError& e) {
    return e.what();
  }
  return "";
}

TEST_F(ResultWriterSyncTest, AFailedFsyncIsAnOutputErrorAndTheJournalKeepsWhatCameBefore) {
  const std::string out = Path("out.h5");
  {
    ResultWriter w(out, {{"y", DType::kInt64, {}}}, 10, "rows: 10\n", 1);
    const int64_t v = 7;
    w.WriteRows(0, 0, 1, Bytes(v));
    w.MarkChunkDone(0);
    w.Sync();
    g_calls_before_failing = 0;  // the next pass's fsync of the file fails
    w.WriteRows(0, 1, 1, Bytes(v));
    w.MarkChunkDone(1);
    const std::string error = SyncError(w);
    EXPECT_NE(error.find(PartialPath(out) + ": flushing chunk 1 failed: "), std::string::npos) << error;
    EXPECT_NE(error.find("Input/output error"), std::string::npos) << error;
    EXPECT_THROW(w.MarkChunkDone(2), OutputError);
    EXPECT_THROW(w.Commit(false), OutputError);  // kept for a resume
  }
  EXPECT_EQ(ReadPartial(out)->done, (std::vector<int64_t>{0}));
}

// A failure met while a failing run drains the queue is returned, not lost.
TEST_F(ResultWriterSyncTest, StopSyncingReturnsAFailureNoCallHasThrown) {
  const std::string out = Path("out.h5");
  ResultWriter w(out, {{"y", DType::kInt64, {}}}, 10, "rows: 10\n", 1);
  g_calls_before_failing = 0;
  const int64_t v = 7;
  w.WriteRows(0, 0, 1, Bytes(v));
  w.MarkChunkDone(0);
  const std::string lost = w.StopSyncing();
  EXPECT_NE(lost.find(PartialPath(out) + ": flushing chunk 0 failed: "), std::string::npos) << lost;
  g_calls_before_failing = -1;
  w.KeepForResume();
}

// The journal's own fsync failing names the journal.
TEST_F(ResultWriterSyncTest, AFailedJournalFsyncNamesTheJournal) {
  const std::string out = Path("out.h5");
  ResultWriter w(out, {{"y", DType::kInt64, {}}}, 10, "rows: 10\n", 1);
  g_calls_before_failing = 1;  // the file's fsync passes, the journal's fails
  const int64_t v = 7;
  w.WriteRows(0, 0, 1, Bytes(v));
  w.MarkChunkDone(0);
  const std::string error = SyncError(w);
  EXPECT_NE(error.find(JournalPath(out) + ": recording chunk 0 failed: "), std::string::npos) << error;
  g_calls_before_failing = -1;
  w.KeepForResume();
}

// The rename that commits the output is made durable: the output's folder is
// fsync'ed after it, and a failure to is an error naming the folder.
TEST_F(ResultWriterSyncTest, CommitSyncsTheOutputsFolder) {
  const std::string out = Path("out.h5");
  struct stat folder {};
  ASSERT_EQ(stat(dir_.c_str(), &folder), 0);
  for (bool overwrite : {false, true}) {
    ResultWriter w(out, {{"y", DType::kInt64, {}}}, 1, "rows: 1\n", 1);
    const int64_t v = 7;
    w.WriteRows(0, 0, 1, Bytes(v));
    g_synced_folders.clear();
    w.Commit(overwrite);
    EXPECT_NE(std::find(g_synced_folders.begin(), g_synced_folders.end(), folder.st_ino), g_synced_folders.end())
        << "overwrite: " << overwrite;
  }
  g_fail_folder_sync = true;
  ResultWriter w(out, {{"y", DType::kInt64, {}}}, 1, "rows: 1\n", 1);
  try {
    w.Commit(true);
    ADD_FAILURE() << "a failed folder sync went unreported";
  } catch (const OutputError& e) {
    EXPECT_NE(std::string(e.what()).find(out + " is in place, but may not survive a power loss: syncing folder " +
                                         dir_.string() + " failed: Input/output error"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace mpsbatch
