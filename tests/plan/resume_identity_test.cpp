#include "plan/resume_identity.h"

#include <gtest/gtest.h>

#include <string>

namespace mpsbatch {

TEST(ResumeIdentity, DifferenceNamesTheFirstChangedKey) {
  JobConfig job;
  job.batch_size = 8;
  JobPlan plan;
  plan.rows = 10;
  plan.model_sha256 = "aaa";
  plan.inputs = {{"x", DType::kUInt8, {10, 4}}};
  plan.outputs = {{"y", DType::kFloat32, {3}}};
  const std::string first = ResumeIdentity(job, plan, 42);
  EXPECT_EQ(IdentityDifference(first, ResumeIdentity(job, plan, 42)), "");
  EXPECT_EQ(IdentityDifference(first, ResumeIdentity(job, plan, 43)),
            "input_file.mtime_ns was '42' when the output was started, is '43' now");
  JobPlan other = plan;
  other.model_sha256 = "bbb";
  EXPECT_EQ(IdentityDifference(first, ResumeIdentity(job, other, 42)),
            "model.sha256 was 'aaa' when the output was started, is 'bbb' now");
  JobConfig scaled = job;
  scaled.input.scale = 0.5;
  EXPECT_EQ(IdentityDifference(first, ResumeIdentity(scaled, plan, 42)),
            "input.scale was 'none' when the output was started, is '0.5' now");
  other = plan;
  other.outputs.push_back({"z", DType::kFloat32, {}});
  EXPECT_EQ(IdentityDifference(first, ResumeIdentity(job, other, 42)),
            "output.datasets was '[y]' when the output was started, is '[y, z]' now");
  EXPECT_EQ(IdentityDifference(ResumeIdentity(job, other, 42), first),
            "output.datasets was '[y, z]' when the output was started, is '[y]' now");
  // The same datasets in another order feed the model differently.
  JobPlan two = plan, swapped = plan;
  two.inputs = {{"a", DType::kFloat32, {10, 4}}, {"b", DType::kFloat32, {10, 4}}};
  swapped.inputs = {two.inputs[1], two.inputs[0]};
  EXPECT_EQ(IdentityDifference(ResumeIdentity(job, two, 42), ResumeIdentity(job, swapped, 42)),
            "input.datasets was '[a, b]' when the output was started, is '[b, a]' now");
  // Dataset names cannot collide with the other keys.
  JobPlan named = plan;
  named.inputs = {{"size", DType::kFloat32, {10, 4}}};
  named.outputs = {{"dtype", DType::kFloat32, {3}}};
  EXPECT_EQ(IdentityDifference(ResumeIdentity(job, named, 42), ResumeIdentity(job, named, 42)), "");
}

// An output file of output.per_input records its own input file beside the
// job's settings: another input file's change is none of its concern, its
// own is told apart from a change of the settings, and a file that records
// the whole job's identity is left to the caller.
TEST(ShardIdentity, ConcernsItsOwnInputFileAndTheSettings) {
  JobConfig job;
  job.output.per_input = true;
  JobPlan plan;
  plan.rows = 12;
  plan.model_sha256 = "aaa";
  plan.inputs = {{"x", DType::kUInt8, {12, 4}}};
  plan.outputs = {{"y", DType::kFloat32, {3}}};
  plan.input_files = {{"/d/a.h5", 5, {100, 1}}, {"/d/b.h5", 7, {200, 2}}};
  const std::string a = ShardIdentity(job, plan, 0), b = ShardIdentity(job, plan, 1);
  EXPECT_EQ(a.rfind("input.file /d/a.h5: rows 5, size 100, mtime_ns 1\n", 0), 0u) << a;
  EXPECT_EQ(a.find("/d/b.h5"), std::string::npos) << a;
  EXPECT_NE(a.find("input.dataset.x: uint8 [4] per row\n"), std::string::npos) << a;

  JobPlan changed = plan;
  changed.input_files[1] = {"/d/b.h5", 9, {300, 3}};
  changed.rows = 14;
  changed.inputs[0].shape = {14, 4};
  EXPECT_EQ(CompareShardIdentity(a, ShardIdentity(job, changed, 0)).settings, "");
  EXPECT_EQ(CompareShardIdentity(a, ShardIdentity(job, changed, 0)).input, "");
  const ShardIdentityDifference own = CompareShardIdentity(b, ShardIdentity(job, changed, 1));
  EXPECT_EQ(own.settings, "");
  EXPECT_EQ(own.input,
            "input file /d/b.h5 was 'rows 7, size 200, mtime_ns 2' when the output was started, is 'rows 9, size 300, "
            "mtime_ns 3' now");
  EXPECT_EQ(CompareShardIdentity(a, b).input, "it was started from input file /d/a.h5, not /d/b.h5");

  JobPlan other = plan;
  other.model_sha256 = "bbb";
  const ShardIdentityDifference model = CompareShardIdentity(a, ShardIdentity(job, other, 0));
  EXPECT_EQ(model.settings, "model.sha256 was 'aaa' when the output was started, is 'bbb' now");
  EXPECT_EQ(model.input, "");
  EXPECT_FALSE(model.earlier_format);
  EXPECT_TRUE(CompareShardIdentity(ResumeIdentity(job, plan, 0), a).earlier_format);
}

// Everything else that changes the numbers: the compiled package, the path
// forced, the precision, and each file the input's rows come from, by path.
TEST(ResumeIdentity, CoversThePackagePathPrecisionAndSourceFiles) {
  JobConfig job;
  JobPlan plan;
  plan.input_sources = {{"/data/s1.h5", "virtual dataset source", {100, 7}}};
  const std::string first = ResumeIdentity(job, plan, 42);
  JobPlan other = plan;
  other.compiled_sha256 = "ccc";
  EXPECT_EQ(IdentityDifference(first, ResumeIdentity(job, other, 42)),
            "model.compiled.sha256 was 'none' when the output was started, is 'ccc' now");
  JobConfig forced = job;
  forced.path = PathRequest::kFrozen;
  EXPECT_EQ(IdentityDifference(first, ResumeIdentity(forced, plan, 42)),
            "path was 'auto' when the output was started, is 'frozen' now");
  JobConfig checked = job;
  checked.fail_on_nonfinite = true;
  EXPECT_EQ(IdentityDifference(first, ResumeIdentity(checked, plan, 42)),
            "fail_on_nonfinite was 'false' when the output was started, is 'true' now");
  JobConfig half = job;
  half.precision = Precision::kBf16;
  EXPECT_EQ(IdentityDifference(first, ResumeIdentity(half, plan, 42)),
            "precision was 'fp32' when the output was started, is 'bf16' now");
  other = plan;
  other.input_sources[0].stamp.mtime_ns = 8;
  EXPECT_EQ(IdentityDifference(first, ResumeIdentity(job, other, 42)),
            "input.source /data/s1.h5 was 'size 100, mtime_ns 7' when the output was started, is 'size 100, "
            "mtime_ns 8' now");
  other.input_sources = {};
  EXPECT_EQ(IdentityDifference(first, ResumeIdentity(job, other, 42)),
            "input.source /data/s1.h5 was 'size 100, mtime_ns 7' when the output was started, is absent now");
}

// With several input files a resume must meet the same files, in the same
// order, each unchanged; a refusal names the file.
TEST(ResumeIdentity, NamesTheInputFileThatChanged) {
  JobConfig job;
  JobPlan plan;
  plan.rows = 9;
  plan.inputs = {{"x", DType::kFloat32, {9, 4}}};
  plan.input_files = {{"/d/a.h5", 5, {100, 7}}, {"/d/b.h5", 0, {90, 7}}, {"/d/c.h5", 4, {96, 7}}};
  const std::string first = ResumeIdentity(job, plan, 7);
  EXPECT_EQ(IdentityDifference(first, ResumeIdentity(job, plan, 7)), "");
  JobPlan other = plan;
  other.input_files[2].stamp.mtime_ns = 8;
  EXPECT_EQ(IdentityDifference(first, ResumeIdentity(job, other, 7)),
            "input.path's file /d/c.h5 was 'rows 4, size 96, mtime_ns 7' when the output was started, is 'rows 4, "
            "size 96, mtime_ns 8' now");
  other = plan;
  other.input_files.erase(other.input_files.begin() + 1);
  EXPECT_EQ(IdentityDifference(first, ResumeIdentity(job, other, 7)),
            "input.path's file /d/b.h5 was among the input files when the output was started, is not now");
  other = plan;
  other.input_files.push_back({"/d/d.h5", 1, {10, 7}});
  other.rows = 10;
  EXPECT_EQ(IdentityDifference(first, ResumeIdentity(job, other, 7)),
            "input.path's file /d/d.h5 was not among the input files when the output was started");
  other = plan;
  std::swap(other.input_files[0], other.input_files[2]);
  EXPECT_EQ(IdentityDifference(first, ResumeIdentity(job, other, 7)),
            "input.path's files come in another order than when the output was started (file 1 was /d/a.h5, is "
            "/d/c.h5 now)");
}

}  // namespace mpsbatch
