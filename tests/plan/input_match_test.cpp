// What a rank other than 0 checks of the input rank 0 planned
// (plan/input_match.h): every file there at its size and readable, the first
// opened; with source files, every file opened and its sources matched. A
// later file that differs is then named when it is read.
#include "plan/input_match.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/error.h"
#include "shards_util.h"
#include "source_files_util.h"
#include "test_util.h"

namespace mpsbatch {

namespace {

using InputMatchTest = testing::Hdf5FolderTest;

JobPlan PlanOf(const std::vector<std::string>& paths) {
  auto set = InputSet::Inspect(paths, {"x"}, {});
  JobPlan plan;
  plan.inputs = set->inputs();
  plan.input_files = set->shards();
  plan.input_sources = set->SourceFiles();
  return plan;
}

// Overwrites `path` with as many bytes that are not HDF5.
void SpoilKeepingSize(const std::string& path) {
  testing::WriteFile(path, std::string(std::filesystem::file_size(path), 'z'));
}

}  // namespace

TEST_F(InputMatchTest, FilesWithoutSourcesAreCheckedWhenRead) {
  testing::WriteFloatRows(Path("all.h5"), "x", 30, 3);
  const auto paths = testing::WriteShards(Path("all.h5"), "x", dir_, {10, 10, 10});
  const JobPlan plan = PlanOf(paths);
  ASSERT_TRUE(plan.input_sources.empty());
  const JobConfig job;
  std::unique_ptr<InputSet> input;
  EXPECT_EQ(InputProblem(job, plan, input), "");
  ASSERT_TRUE(input);

  // A later file that is no longer HDF5: seen when its rows are read.
  SpoilKeepingSize(paths[2]);
  EXPECT_EQ(InputProblem(job, plan, input), "");
  ASSERT_TRUE(input);
  const DatasetInfo& x = plan.inputs[0];
  EXPECT_NO_THROW(input->ReadRows(x, 0, 20));
  try {
    input->ReadRows(x, 20, 30);
    ADD_FAILURE() << "read a file that is not HDF5";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), "input.path '" + paths[2] + "': not an HDF5 file");
  }

  // The first file is opened; every file must be there at its size.
  SpoilKeepingSize(paths[0]);
  EXPECT_EQ(InputProblem(job, plan, input), "input.path '" + paths[0] + "': not an HDF5 file");
  EXPECT_FALSE(input);
  std::filesystem::resize_file(paths[1], std::filesystem::file_size(paths[1]) + 1);
  EXPECT_EQ(InputProblem(job, plan, input), paths[1] + " has " + std::to_string(plan.input_files[1].stamp.size + 1) +
                                                " bytes here, " + std::to_string(plan.input_files[1].stamp.size) +
                                                " on rank 0");
  std::filesystem::remove(paths[1]);
  EXPECT_EQ(InputProblem(job, plan, input), "cannot see " + paths[1]);
}

TEST_F(InputMatchTest, FilesWithSourcesAreEachOpened) {
  testing::WriteFloatRows(Path("src.h5"), "x", 4, 3);
  testing::MakeVirtual(Path("a.h5"), "x", 4, 3, {{Path("src.h5"), "x"}});
  testing::WriteFloatRows(Path("b.h5"), "x", 4, 3);
  const JobPlan plan = PlanOf({Path("a.h5"), Path("b.h5")});
  ASSERT_EQ(plan.input_sources.size(), 1u);
  const JobConfig job;
  std::unique_ptr<InputSet> input;
  EXPECT_EQ(InputProblem(job, plan, input), "");
  SpoilKeepingSize(Path("b.h5"));
  EXPECT_EQ(InputProblem(job, plan, input), "input.path '" + Path("b.h5") + "': not an HDF5 file");
}

}  // namespace mpsbatch
