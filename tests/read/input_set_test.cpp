// The input's files as one run of rows (read/input_set.h): input.path's globs
// expanded in name order, every file held to the first one's datasets, rows
// read across files as from their concatenation with one pool of read
// threads, their source files listed once, a file changed since the plan
// refused by name, and the next file opened beside a read.
#include "read/input_set.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <optional>

#include "common/error.h"
#include "shards_util.h"
#include "source_files_util.h"
#include "test_util.h"

namespace mpsbatch {

namespace {

using InputSetTest = testing::Hdf5FolderTest;

// The threads of this process (Linux); -1 where /proc does not list them.
int ThreadsOfThisProcess() {
  std::error_code ec;
  std::filesystem::directory_iterator it("/proc/self/task", ec);
  if (ec) return -1;
  return static_cast<int>(std::distance(it, std::filesystem::directory_iterator()));
}

std::string InspectRefusal(const std::vector<std::string>& paths, const std::vector<std::string>& datasets) {
  try {
    InputSet::Inspect(paths, datasets, {});
  } catch (const InputError& e) {
    return e.what();
  }
  return "(accepted)";
}

}  // namespace

TEST_F(InputSetTest, GlobsExpandInNameOrderAndListsKeepTheirs) {
  for (const char* name : {"part-0002.h5", "part-0000.h5", "part-0010.h5", "part-0001.h5", "other.h5"})
    testing::WriteFloatRows(Path(name), "x", 2, 3);
  EXPECT_EQ(ExpandInputPaths({Path("part-*.h5")}),
            (std::vector<std::string>{Path("part-0000.h5"), Path("part-0001.h5"), Path("part-0002.h5"),
                                      Path("part-0010.h5")}));
  EXPECT_EQ(ExpandInputPaths({Path("other.h5"), Path("part-000[01].h5")}),
            (std::vector<std::string>{Path("other.h5"), Path("part-0000.h5"), Path("part-0001.h5")}));
  // A path without glob characters is kept as given, even when missing: the
  // input's own check names it.
  EXPECT_EQ(ExpandInputPaths({Path("missing.h5")}), std::vector<std::string>{Path("missing.h5")});
  try {
    ExpandInputPaths({Path("nothing-*.h5")});
    ADD_FAILURE() << "a glob matching nothing was accepted";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), "input.path '" + Path("nothing-*.h5") + "' matches no file");
  }
  EXPECT_THROW(ExpandInputPaths({Path("part-*.h5"), Path("part-0001.h5")}), InputError);
}

// One file under two names (a symbolic or a hard link) is one file named
// twice: its rows would be scored twice.
TEST_F(InputSetTest, AFileUnderTwoNamesIsNamedTwice) {
  testing::WriteFloatRows(Path("part-0000.h5"), "x", 2, 3);
  testing::WriteFloatRows(Path("part-0001.h5"), "x", 2, 3);
  namespace fs = std::filesystem;
  fs::create_directory(Path("links"));
  fs::create_symlink(Path("part-0000.h5"), Path("links/soft.h5"));
  fs::create_hard_link(Path("part-0001.h5"), Path("links/hard.h5"));
  for (const auto& [one, other] : {std::pair{Path("part-0000.h5"), Path("links/soft.h5")},
                                   std::pair{Path("part-0001.h5"), Path("links/hard.h5")}}) {
    try {
      ExpandInputPaths({one, Path("links/*.h5")});
      ADD_FAILURE() << other << " was accepted beside " << one;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(other + " is the file " + one), std::string::npos) << e.what();
    }
  }
  // Two files with the same rows stay two files.
  fs::copy_file(Path("part-0000.h5"), Path("copy.h5"));
  EXPECT_EQ(ExpandInputPaths({Path("part-0000.h5"), Path("copy.h5")}).size(), 2u);
}

// Rows numbered across the files in order, a read spanning files (an empty
// one among them) equal to the same rows of the concatenation; more files
// than stay open at once.
TEST_F(InputSetTest, ReadsRowsAcrossFilesAsTheirConcatenation) {
  testing::WriteFloatRows(Path("all.h5"), "x", 100, 3);
  std::vector<int64_t> counts{7, 0, 1, 12, 5, 3, 9, 2, 2, 11, 4, 6, 1, 8, 5, 4, 7, 3, 10};
  const auto paths = testing::WriteShards(Path("all.h5"), "x", dir_, counts);
  auto set = InputSet::Inspect(paths, {"x"}, {});
  EXPECT_EQ(set->rows(), 100);
  EXPECT_EQ(set->file_rows(), counts);
  ASSERT_EQ(set->inputs().size(), 1u);
  EXPECT_EQ(set->inputs()[0].shape, (Shape{100, 3}));
  InputFile whole(Path("all.h5"));
  const DatasetInfo all = whole.Describe("x");
  for (auto [begin, end] : {std::pair<int64_t, int64_t>{0, 100}, {5, 9}, {7, 8}, {50, 51}, {99, 100}, {20, 20}}) {
    const HostArray got = set->ReadRows(set->inputs()[0], begin, end);
    const HostArray want = whole.ReadRows(all, begin, end);
    ASSERT_EQ(got.bytes.size(), want.bytes.size());
    EXPECT_EQ(std::memcmp(got.bytes.data(), want.bytes.data(), got.bytes.size()), 0) << begin << ".." << end;
  }
  // Another rank's set, from the plan's shards, reads the same.
  InputSet again(set->shards(), set->inputs(), {}, false);
  again.CheckAll();
  const HostArray got = again.ReadRows(set->inputs()[0], 0, 100);
  const HostArray want = whole.ReadRows(all, 0, 100);
  EXPECT_EQ(std::memcmp(got.bytes.data(), want.bytes.data(), got.bytes.size()), 0);
}

// Direct reads of every file use one pool of read threads (read_threads - 1
// of them), on rank 0's set and on another rank's: a pool per file started and
// joined threads for each of thousands of small files.
TEST_F(InputSetTest, ItsFilesShareOneSetOfReadThreads) {
  if (ThreadsOfThisProcess() < 1) GTEST_SKIP() << "/proc/self/task lists no threads here";
  testing::WriteFloatRows(Path("all.h5"), "x", 60, 3);
  const auto paths = testing::WriteShards(Path("all.h5"), "x", dir_, {10, 10, 10, 10, 10, 10});
  const ReadOptions options{.direct = true, .threads = 3};
  const int before = ThreadsOfThisProcess();
  auto set = InputSet::Inspect(paths, {"x"}, options);
  const DatasetInfo& x = set->inputs()[0];
  EXPECT_NE(set->ReadMethod(x).find("directly"), std::string::npos) << set->ReadMethod(x);
  set->ReadRows(x, 0, 60);
  EXPECT_EQ(ThreadsOfThisProcess() - before, 2);
  InputSet again(set->shards(), set->inputs(), options, false);
  again.ReadRows(x, 0, 60);
  EXPECT_EQ(ThreadsOfThisProcess() - before, 4);
  set.reset();
  EXPECT_EQ(ThreadsOfThisProcess() - before, 2);
}

// The files besides the input files, each once, whether found while
// planning (Inspect), while another rank checks every file (CheckAll), or
// asked for alone.
TEST_F(InputSetTest, ListsTheSourceFilesOfAllItsFilesOnce) {
  testing::WriteFloatRows(Path("src.h5"), "x", 4, 3);
  testing::MakeVirtual(Path("a.h5"), "x", 4, 3, {{Path("src.h5"), "x"}});
  testing::WriteFloatRows(Path("b.h5"), "x", 2, 3);
  testing::MakeVirtual(Path("c.h5"), "x", 4, 3, {{Path("src.h5"), "x"}});
  auto names = [](const std::vector<SourceFile>& files) {
    std::vector<std::string> out;
    for (const auto& f : files) out.push_back(f.path + " (" + f.role + ")");
    return out;
  };
  const std::vector<std::string> want{Path("src.h5") + " (virtual dataset source)"};
  auto set = InputSet::Inspect({Path("a.h5"), Path("b.h5"), Path("c.h5")}, {"x"}, {});
  EXPECT_EQ(names(set->SourceFiles()), want);
  InputSet checked(set->shards(), set->inputs(), {}, false);
  checked.CheckAll();
  EXPECT_EQ(names(checked.SourceFiles()), want);
  InputSet asked(set->shards(), set->inputs(), {}, false);
  EXPECT_EQ(names(asked.SourceFiles()), want);
}

TEST_F(InputSetTest, InspectNamesTheFirstFileThatDisagrees) {
  testing::WriteFloatRows(Path("a.h5"), "x", 4, 3);
  testing::WriteFloatRows(Path("b.h5"), "x", 4, 5);
  testing::WriteFloatRows(Path("c.h5"), "y", 4, 3);
  EXPECT_EQ(InspectRefusal({Path("a.h5"), Path("b.h5")}, {"x"}),
            Path("b.h5") + ": dataset 'x' holds float32 rows of [5], but " + Path("a.h5") +
                " holds float32 rows of [3]: every file of input.path must hold the same datasets with the same "
                "dtypes and row shapes");
  EXPECT_NE(InspectRefusal({Path("a.h5"), Path("c.h5")}, {"x"}).find(Path("c.h5") + ": dataset 'x' not found"),
            std::string::npos);
  testing::WriteFile(Path("junk.h5"), "not hdf5");
  EXPECT_EQ(InspectRefusal({Path("a.h5"), Path("junk.h5")}, {"x"}),
            "input.path '" + Path("junk.h5") + "': not an HDF5 file");
  // Files without rows are kept (they have no chunk), but some row is needed.
  testing::WriteFloatRows(Path("e1.h5"), "x", 0, 3);
  testing::WriteFloatRows(Path("e2.h5"), "x", 0, 3);
  EXPECT_EQ(InspectRefusal({Path("e1.h5"), Path("e2.h5")}, {"x"}),
            "input.path: its 2 files hold no rows; there is nothing to score");
  EXPECT_EQ(InspectRefusal({Path("e1.h5"), Path("a.h5")}, {"x"}), "(accepted)");
  // One file of no rows is refused as before.
  EXPECT_EQ(InspectRefusal({Path("e1.h5")}, {"x"}),
            Path("e1.h5") + ": dataset 'x' has zero rows; there is nothing to score");
}

// Planning tells its caller how many files it has checked, after each one.
TEST_F(InputSetTest, InspectCountsTheFilesItChecked) {
  testing::WriteFloatRows(Path("a.h5"), "x", 4, 3);
  testing::WriteFloatRows(Path("b.h5"), "x", 2, 3);
  testing::WriteFloatRows(Path("c.h5"), "x", 1, 3);
  std::vector<size_t> told;
  InputSet::Inspect({Path("a.h5"), Path("b.h5"), Path("c.h5")}, {"x"}, {}, [&](size_t n) { told.push_back(n); });
  EXPECT_EQ(told, (std::vector<size_t>{1, 2, 3}));
}

// A file opened after planning (here: the first read of another rank's set)
// must be the file planned; one gone or changed is refused by name.
TEST_F(InputSetTest, AFileChangedSincePlanningIsRefusedByName) {
  testing::WriteFloatRows(Path("a.h5"), "x", 4, 3);
  testing::WriteFloatRows(Path("b.h5"), "x", 4, 3);
  auto planned = InputSet::Inspect({Path("a.h5"), Path("b.h5")}, {"x"}, {});
  const std::vector<InputShard> as_planned = planned->shards();
  const std::vector<DatasetInfo> inputs = planned->inputs();
  planned.reset();  // closes the files
  auto shards = as_planned;
  auto refusal = [&](bool check_mtime) -> std::string {
    try {
      InputSet set(shards, inputs, {}, check_mtime);
      set.CheckAll();
    } catch (const InputError& e) {
      return e.what();
    }
    return "(accepted)";
  };
  EXPECT_EQ(refusal(true), "(accepted)");
  shards[1].stamp.mtime_ns += 1;
  EXPECT_EQ(refusal(true), "input.path's file '" + Path("b.h5") +
                               "' was modified since the job was planned; run the job again once the input stays "
                               "unchanged");
  EXPECT_EQ(refusal(false), "(accepted)");                 // another host's copy has its own time
  testing::WriteFloatRows(Path("b.h5"), "x", 4, 3, 1.0f);  // rewritten in place: same size
  shards = as_planned;
  shards[1].stamp = *StampOf(Path("b.h5"));
  shards[1].rows = 3;
  EXPECT_NE(refusal(true).find("input.path's file '" + Path("b.h5") +
                               "' changed: dataset 'x' is float32 [4, 3], "
                               "was float32 [3, 3]"),
            std::string::npos);
  std::filesystem::remove(Path("b.h5"));
  EXPECT_EQ(refusal(true), "input.path's file '" + Path("b.h5") +
                               "' is gone since the job was planned; run the job again once the input stays unchanged");
}

// The file the caller says it reads next opens while a read's rows are read
// on a helper thread: read afterwards from that open file even once its name
// is gone. Only a hint: a file gone before it could be opened ahead is
// named when its rows are read, and the read beside it is not disturbed.
TEST_F(InputSetTest, OpensTheNextFileBesideAReadAndNamesOneGoneWhenRead) {
  testing::WriteFloatRows(Path("all.h5"), "x", 40, 3);
  const auto paths = testing::WriteShards(Path("all.h5"), "x", dir_, {10, 10, 10, 10});
  const ReadOptions options{.direct = true, .threads = 2};
  auto planned = InputSet::Inspect(paths, {"x"}, options);
  const std::vector<InputShard> shards = planned->shards();
  const DatasetInfo x = planned->inputs()[0];
  const HostArray want = planned->ReadRows(x, 0, 40);
  planned.reset();
  auto rows_of = [&](int64_t begin, int64_t end) {
    return std::vector<std::byte>(want.bytes.begin() + begin * 12, want.bytes.begin() + end * 12);
  };
  auto bytes = [](const HostArray& a) { return std::vector<std::byte>(a.bytes.begin(), a.bytes.end()); };
  auto refusal = [&](InputSet& set, int64_t begin, int64_t end) -> std::string {
    try {
      set.ReadRows(x, begin, end);
    } catch (const InputError& e) {
      return e.what();
    }
    return "(read)";
  };
  auto gone = [](const std::string& path) {
    return "input.path's file '" + path +
           "' is gone since the job was planned; run the job again once the input "
           "stays unchanged";
  };

  InputSet set(shards, {x}, options, true);
  std::vector<bool> read_when_asked;
  set.AskNextRead([&](const std::atomic<bool>& read) {
    read_when_asked.push_back(read.load());
    return std::optional<int64_t>(25);  // in the third file
  });
  EXPECT_EQ(bytes(set.ReadRows(x, 0, 10)), rows_of(0, 10));
  ASSERT_EQ(read_when_asked.size(), 1u);
  std::filesystem::remove(paths[2]);  // opened ahead: still read
  std::filesystem::remove(paths[1]);  // never opened
  set.AskNextRead({});
  EXPECT_EQ(bytes(set.ReadRows(x, 20, 30)), rows_of(20, 30));
  EXPECT_EQ(refusal(set, 10, 20), gone(paths[1]));

  // Gone before the read beside which it would have opened.
  InputSet later(shards, {x}, options, true);
  later.AskNextRead([](const std::atomic<bool>&) { return std::optional<int64_t>(15); });
  EXPECT_EQ(bytes(later.ReadRows(x, 30, 40)), rows_of(30, 40));
  EXPECT_EQ(refusal(later, 15, 20), gone(paths[1]));
  EXPECT_EQ(refusal(later, 0, 10), "(read)");
}

}  // namespace mpsbatch
