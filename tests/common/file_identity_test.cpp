#include "common/file_identity.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>
#include <utility>

#include "test_util.h"

namespace mpsbatch {
namespace {

namespace fs = std::filesystem;

class FileIdentityTest : public testing::Hdf5FolderTest {};

// Sets `path`'s modification time to `other`'s, as cp -p, rsync -t or touch -r do.
void CopyMtime(const fs::path& from, const fs::path& path) {
  struct stat st {};
  ASSERT_EQ(::stat(from.c_str(), &st), 0);
#if defined(__APPLE__)
  const timespec times[2] = {st.st_atimespec, st.st_mtimespec};
#else
  const timespec times[2] = {st.st_atim, st.st_mtim};
#endif
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
}

// Past a coarse timestamp tick (a few ms on older kernels).
void NextTick() { std::this_thread::sleep_for(std::chrono::milliseconds(20)); }

TEST_F(FileIdentityTest, TheSameUnchangedFileKeepsItsIdentity) {
  const fs::path f = dir_ / "model.pt";
  testing::WriteFile(f, "weights v1");
  const std::string id = FileIdentity(f.string());
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(FileIdentity(f.string()), id);
  const int fd = ::open(f.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(FileIdentityOfOpenFile(fd), id);
  ::close(fd);
  EXPECT_EQ(FileIdentity((dir_ / "missing.pt").string()), "");
}

// The cases a size and modification time alone miss: the same size, the old
// mtime put back, and (for the replacement) often the freed inode reused.
// Returns the identities of model.pt before and after it is rewritten so,
// in place or as a new file.
std::pair<std::string, std::string> RewriteKeepingSizeAndMtime(const fs::path& dir, bool new_file) {
  const fs::path f = dir / "model.pt", stamp = dir / "stamp";
  testing::WriteFile(f, "weights v1");
  testing::WriteFile(stamp, "");
  CopyMtime(f, stamp);
  const std::string before = FileIdentity(f.string());
  NextTick();
  if (new_file) fs::remove(f);
  testing::WriteFile(f, "weights v2");
  CopyMtime(stamp, f);
  return {before, FileIdentity(f.string())};
}

TEST_F(FileIdentityTest, ASameSizeRewriteWithTheOldMtimeIsAnotherIdentity) {
  const auto [before, after] = RewriteKeepingSizeAndMtime(dir_, false);
  EXPECT_NE(after, before);
}

TEST_F(FileIdentityTest, AReplacementWithTheOldMtimeIsAnotherIdentity) {
  const auto [before, after] = RewriteKeepingSizeAndMtime(dir_, true);
  EXPECT_NE(after, before);
}

}  // namespace
}  // namespace mpsbatch
