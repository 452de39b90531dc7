// What an output records of the job that wrote it (write/output_origin.h):
// a per-input job's file by its input_file, a single output's by its
// input_path, the job's output.path from its config; nothing for a file that
// is not an mpsbatch output.
#include "write/output_origin.h"

#include <gtest/gtest.h>

#include "test_util.h"
#include "write/result_writer.h"

namespace mpsbatch {
namespace {

using OutputOriginTest = testing::Hdf5FolderTest;

// A committed output of one row whose attributes are `attributes`.
void WriteOutput(const std::string& path, const std::vector<std::pair<std::string, std::string>>& attributes) {
  ResultWriter w(path, {{"y", DType::kFloat32, {}}}, 1, "rows: 1\n", 1);
  const float y = 1;
  w.WriteRows(0, 0, 1, reinterpret_cast<const std::byte*>(&y));
  for (const auto& [name, value] : attributes) w.SetAttribute(name, value);
  w.Commit(false);
}

TEST_F(OutputOriginTest, ReadsAPerInputJobsFile) {
  WriteOutput(Path("a.h5"), {{"input_file", "/d/part-1.h5"},
                             {"input_path", "/d/part-*.h5"},
                             {"config", "model:\n  path: /m.pt\noutput:\n  path: /o/{stem}.h5\n  per_input: true\n"},
                             {"end_time", "2026-11-28T10:00:00Z"},
                             {"command_line", "mpsbatch job.yaml"}});
  const auto origin = ReadOutputOrigin(Path("a.h5"));
  ASSERT_TRUE(origin.has_value());
  EXPECT_TRUE(origin->per_input);
  EXPECT_EQ(DescribeOrigin(*origin),
            "a per-input job (output.path /o/{stem}.h5) committed it at 2026-11-28T10:00:00Z as the output of input "
            "file /d/part-1.h5 (command line: mpsbatch job.yaml)");
}

TEST_F(OutputOriginTest, ReadsASingleOutputAndSaysWhatItLacks) {
  WriteOutput(Path("b.h5"), {{"input_path", "/d/x.h5"}, {"config", "not: [valid"}});
  const auto origin = ReadOutputOrigin(Path("b.h5"));
  ASSERT_TRUE(origin.has_value());
  EXPECT_FALSE(origin->per_input);
  EXPECT_EQ(DescribeOrigin(*origin), "a job with one output committed it from input.path /d/x.h5");
}

TEST_F(OutputOriginTest, NothingForOtherFiles) {
  WriteOutput(Path("c.h5"), {});
  EXPECT_FALSE(ReadOutputOrigin(Path("c.h5")).has_value());
  testing::WriteFile(dir_ / "d.h5", "not hdf5");
  EXPECT_FALSE(ReadOutputOrigin(Path("d.h5")).has_value());
  EXPECT_FALSE(ReadOutputOrigin(Path("missing.h5")).has_value());
}

}  // namespace
}  // namespace mpsbatch
