// The partial file's commit and the checks before a run: an output is never
// replaced without output.overwrite, and a folder it cannot be written to is
// refused up front.
#include "write/partial_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "common/error.h"
#include "read/input_file.h"
#include "test_util.h"
#include "write/result_writer.h"

namespace mpsbatch {

namespace {

using PartialFileTest = testing::Hdf5FolderTest;

}  // namespace

TEST_F(PartialFileTest, CommitNeverReplacesAFileWithoutOverwrite) {
  const std::string out = Path("out.h5");
  ResultWriter w(out, {{"y", DType::kFloat32, {}}}, 1);
  testing::WriteFile(out, "precious");  // appeared during the run
  EXPECT_THROW(w.Commit(false), OutputError);
  EXPECT_EQ(testing::ReadFile(out), "precious");
}

TEST_F(PartialFileTest, CommitWithOverwriteReplaces) {
  const std::string out = Path("out.h5");
  testing::WriteFile(out, "old");
  ResultWriter w(out, {{"y", DType::kFloat32, {}}}, 1);
  w.Commit(true);
  EXPECT_NO_THROW(InputFile{out});
}

TEST_F(PartialFileTest, CheckOutputPath) {
  const std::string out = Path("out.h5");
  EXPECT_NO_THROW(CheckOutputPath(out, false));
  testing::WriteFile(out, "x");
  EXPECT_THROW(CheckOutputPath(out, false), OutputError);
  EXPECT_NO_THROW(CheckOutputPath(out, true));
  EXPECT_THROW(CheckOutputPath(dir_.string(), true), OutputError);
}

// A missing folder passes the check untouched and MakeOutputFolder creates
// it with its parents; a file in the way, or a folder where nothing can be
// created, is named.
TEST_F(PartialFileTest, AMissingOutputFolderIsCreatedOrNamed) {
  const std::string out = Path("no/such/folder/out.h5");
  EXPECT_NO_THROW(CheckOutputPath(out, false));
  EXPECT_FALSE(std::filesystem::exists(Path("no")));
  MakeOutputFolder(out);
  EXPECT_TRUE(std::filesystem::is_directory(Path("no/such/folder")));
  testing::WriteFile(dir_ / "plain", "x");
  auto message = [](const std::string& path) {
    try {
      CheckOutputPath(path, false);
    } catch (const OutputError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  const std::string in_the_way = message(Path("plain/sub/out.h5"));
  EXPECT_NE(
      in_the_way.find("cannot create folder " + Path("plain/sub") + ": " + Path("plain") + " is a file, not a folder"),
      std::string::npos)
      << in_the_way;
  EXPECT_THROW(MakeOutputFolder(Path("plain/sub/out.h5")), OutputError);
  // Nothing can be created in sysfs, not even by root.
  const std::string unwritable = message("/sys/mpsbatch-test/out.h5");
  EXPECT_NE(unwritable.find("cannot create folder /sys/mpsbatch-test: folder /sys is not writable"), std::string::npos)
      << unwritable;
}

}  // namespace mpsbatch
