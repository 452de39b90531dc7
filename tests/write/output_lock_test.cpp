#include "write/output_lock.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/unique_fd.h"
#include "test_util.h"
#include "write/partial_file.h"

namespace mpsbatch {
namespace {

namespace fs = std::filesystem;

// What `f` threw as an OutputError ("" if it returned).
template <typename F>
std::string OutputErrorOf(F&& f) {
  try {
    f();
  } catch (const OutputError& e) {
    return e.what();
  }
  return "";
}

using OutputLockTest = testing::Hdf5FolderTest;

TEST_F(OutputLockTest, ASecondLockIsRefusedNamingTheHolder) {
  const std::string out = Path("out.h5");
  {
    OutputLock first(out);
    ASSERT_TRUE(fs::exists(LockPath(out)));
    const std::string error = OutputErrorOf([&] { OutputLock second(out); });
    EXPECT_NE(error.find("output.path '" + out + "': another run is writing this output (host "), std::string::npos)
        << error;
    EXPECT_NE(error.find(", pid " + std::to_string(getpid()) + " holds the lock file " + LockPath(out) + "): wait"),
              std::string::npos)
        << error;
    EXPECT_TRUE(fs::exists(LockPath(out))) << "the refused lock removed the holder's file";
  }
  EXPECT_FALSE(fs::exists(LockPath(out)));
  OutputLock again(out);
}

// A lock file left by a process that ended without removing it (kill -9)
// holds no lock: the next run takes it over.
TEST_F(OutputLockTest, ALeftoverLockFileIsTakenOver) {
  const std::string out = Path("out.h5");
  testing::WriteFile(LockPath(out), "host elsewhere, pid 1\n");
  EXPECT_EQ(OutputErrorOf([&] { OutputLock lock(out); }), "");
  EXPECT_FALSE(fs::exists(LockPath(out)));
}

TEST_F(OutputLockTest, TheLockFileIsLockedWhileHeld) {
  const std::string out = Path("out.h5");
  OutputLock lock(out);
  // Another process (here: another open file description) cannot take it.
  const int fd = open(LockPath(out).c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  EXPECT_NE(flock(fd, LOCK_EX | LOCK_NB), 0);
  close(fd);
}

// A lock held elsewhere is refused by name (what the file is to the run, the
// path, the holder); a free one, or none, is not, and nothing is made,
// locked or removed.
TEST_F(OutputLockTest, CheckNotLockedRefusesOnlyAHeldLock) {
  const std::string out = Path("part-0001.h5");
  EXPECT_EQ(OutputErrorOf([&] { CheckNotLocked(out, "output file"); }), "");
  EXPECT_FALSE(fs::exists(LockPath(out))) << "the check made a lock file";
  {
    OutputLock other(out);
    const std::string error = OutputErrorOf([&] { CheckNotLocked(out, "output file"); });
    EXPECT_NE(error.find("output file '" + out + "': another run is writing this output (host "), std::string::npos)
        << error;
    EXPECT_NE(error.find(", pid " + std::to_string(getpid()) + " holds the lock file " + LockPath(out) + "): wait"),
              std::string::npos)
        << error;
    // The check leaves the holder's lock as it was.
    UniqueFd fd(open(LockPath(out).c_str(), O_RDONLY));
    ASSERT_TRUE(fd);
    EXPECT_NE(flock(fd.get(), LOCK_EX | LOCK_NB), 0);
  }
  testing::WriteFile(LockPath(out), "host elsewhere, pid 1\n");
  EXPECT_EQ(OutputErrorOf([&] { CheckNotLocked(out); }), "");
  EXPECT_TRUE(fs::exists(LockPath(out))) << "the check removed a lock file";
  // Right after a check, the lock is free to take.
  EXPECT_EQ(OutputErrorOf([&] { OutputLock lock(out, "output file"); }), "");
}

// A lock of an output file names the file as such.
TEST_F(OutputLockTest, ALockNamesWhatItLocks) {
  const std::string out = Path("part-0001.h5");
  OutputLock first(out, "output file");
  const std::string error = OutputErrorOf([&] { OutputLock second(out, "output file"); });
  EXPECT_EQ(error.rfind("output file '" + out + "': another run is writing this output", 0), 0u) << error;
}

TEST_F(OutputLockTest, OutputFilesThatAreAnInputAreRefused) {
  const std::string in = Path("in.h5"), model = Path("model.pt");
  testing::WriteFile(in, "input");
  testing::WriteFile(model, "model");
  const std::vector<KeyedPath> reads{{"input.path", in}, {"model.path", model}};
  EXPECT_EQ(OutputErrorOf([&] { CheckOutputFiles(Path("out.h5"), reads); }), "");

  EXPECT_NE(OutputErrorOf([&] {
              CheckOutputFiles(in, reads);
            }).find("output.path '" + in + "' is the same file as input.path '" + in + "'"),
            std::string::npos);
  fs::create_hard_link(model, Path("hard.h5"));
  EXPECT_NE(OutputErrorOf([&] {
              CheckOutputFiles(Path("hard.h5"), reads);
            }).find("is the same file as model.path '" + model + "'"),
            std::string::npos);
  fs::create_hard_link(in, Path("p.h5.partial"));
  EXPECT_NE(OutputErrorOf([&] { CheckOutputFiles(Path("p.h5"), reads); })
                .find("output.path '" + Path("p.h5") + "': its partial file " + Path("p.h5.partial") +
                      " is the same file as input.path"),
            std::string::npos);
  fs::create_hard_link(in, Path("j.h5.partial.chunks"));
  EXPECT_NE(OutputErrorOf([&] { CheckOutputFiles(Path("j.h5"), reads); }).find("its journal"), std::string::npos);
}

// The reads looked up once, for the many outputs of a per_input job: the
// first read that is the file wins, a read that does not exist matches
// nothing, and neither does an output that does not exist.
TEST_F(OutputLockTest, ReadFilesFindTheFirstReadThatIsTheFile) {
  const std::string in = Path("in.h5");
  testing::WriteFile(in, "input");
  fs::create_symlink(in, Path("link.h5"));
  const ReadFiles reads({{"input.source", Path("gone.h5")}, {"input.path", Path("link.h5")}, {"input.source", in}});
  ASSERT_NE(reads.SameAs(in), nullptr);
  EXPECT_EQ(*reads.SameAs(in), (KeyedPath{"input.path", Path("link.h5")}));
  EXPECT_EQ(reads.SameAs(Path("gone.h5")), nullptr);
  EXPECT_EQ(reads.SameAs(Path("out.h5")), nullptr);
  EXPECT_NE(OutputErrorOf([&] {
              CheckOutputFiles(in, reads);
            }).find("output.path '" + in + "' is the same file as input.path '" + Path("link.h5") + "'"),
            std::string::npos);
}

TEST_F(OutputLockTest, SymbolicLinksAmongTheOutputFilesAreRefused) {
  testing::WriteFile(Path("target.h5"), "x");
  fs::create_symlink(Path("target.h5"), Path("link.h5"));
  fs::create_symlink(Path("nowhere.h5"), Path("dangling.h5"));
  fs::create_symlink(Path("target.h5"), Path("q.h5.partial"));
  fs::create_symlink(Path("nowhere.h5"), Path("r.h5.lock"));
  for (const auto& [out, what] : std::vector<std::pair<std::string, std::string>>{
           {"link.h5", "output.path '" + Path("link.h5") + "' is a symbolic link (to '" + Path("target.h5") + "')"},
           {"dangling.h5", "output.path '" + Path("dangling.h5") + "' is a symbolic link"},
           {"q.h5", "its partial file " + Path("q.h5.partial") + " is a symbolic link"},
           {"r.h5", "its lock file " + Path("r.h5.lock") + " is a symbolic link"}}) {
    const std::string error = OutputErrorOf([&] { CheckOutputFiles(Path(out), {}); });
    EXPECT_NE(error.find(what), std::string::npos) << error;
  }
  // The lock refuses to write through one too.
  EXPECT_NE(OutputErrorOf([&] { OutputLock lock(Path("r.h5")); }).find("symbolic link"), std::string::npos);
  EXPECT_FALSE(fs::exists(Path("nowhere.h5")));
}

TEST_F(OutputLockTest, SavedChunksAreKeptUnlessResumedOrRestarted) {
  const std::string out = Path("out.h5");
  EXPECT_EQ(OutputErrorOf([&] { CheckSavedChunksKept(out, false, false); }), "");
  testing::WriteFile(JournalPath(out), "");
  const std::string error = OutputErrorOf([&] { CheckSavedChunksKept(out, false, false); });
  EXPECT_NE(error.find("left " + JournalPath(out) + ": run again with --resume"), std::string::npos) << error;
  EXPECT_NE(error.find("--restart to discard them and start again"), std::string::npos) << error;
  EXPECT_EQ(OutputErrorOf([&] { CheckSavedChunksKept(out, true, false); }), "");
  EXPECT_EQ(OutputErrorOf([&] { CheckSavedChunksKept(out, false, true); }), "");
}

// Too many open files is said as such, not as a folder that cannot be
// written.
using CheckOutputPathTest = testing::Hdf5FolderTest;

TEST_F(CheckOutputPathTest, TooManyOpenFilesIsSaidAsSuch) {
  rlimit old{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
  std::vector<int> fds;
  rlimit low = old;
  low.rlim_cur = 64;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  for (int fd; (fd = open("/dev/null", O_RDONLY)) >= 0;) fds.push_back(fd);
  const std::string error = OutputErrorOf([&] { CheckOutputPath(Path("out.h5"), false); });
  for (int fd : fds) close(fd);
  setrlimit(RLIMIT_NOFILE, &old);
  EXPECT_NE(error.find("cannot create a file in folder " + dir_.string() + ": Too many open files"), std::string::npos)
      << error;
  EXPECT_EQ(error.find("not writable"), std::string::npos) << error;
}

}  // namespace
}  // namespace mpsbatch
