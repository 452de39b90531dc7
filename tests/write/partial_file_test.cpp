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
  EXPECT_THROW(CheckOutputPath(Path("no/such/folder/out.h5"), true), OutputError);
  EXPECT_THROW(CheckOutputPath(dir_.string(), true), OutputError);
}

}  // namespace mpsbatch
