#include "plan/job_plan.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "common/error.h"

namespace mpsbatch {

TEST(JobPlan, SerializeRoundTrip) {
  JobPlan p;
  p.rows = 1797;
  p.chunk_rows = 128;
  p.mode = InputMode::kScatter;
  p.input_file_size = 12345;
  p.model_size = 678;
  p.model_sha256 = "abc";
  p.inputs = {{"ids", DType::kInt64, {1797, 16}}, {"mask", DType::kFloat32, {1797, 16}}};
  p.outputs = {{"logits", DType::kFloat32, {10}}, {"score", DType::kFloat64, {}}};
  JobPlan q = DeserializePlan(SerializePlan(p));
  EXPECT_EQ(q.rows, p.rows);
  EXPECT_EQ(q.chunk_rows, p.chunk_rows);
  EXPECT_EQ(q.mode, p.mode);
  EXPECT_EQ(q.input_file_size, p.input_file_size);
  EXPECT_EQ(q.model_size, p.model_size);
  EXPECT_EQ(q.model_sha256, p.model_sha256);
  ASSERT_EQ(q.inputs.size(), 2u);
  EXPECT_EQ(q.inputs[1].name, "mask");
  EXPECT_EQ(q.inputs[0].dtype, DType::kInt64);
  EXPECT_EQ(q.inputs[0].shape, (Shape{1797, 16}));
  ASSERT_EQ(q.outputs.size(), 2u);
  EXPECT_EQ(q.outputs[1].dtype, DType::kFloat64);
  EXPECT_EQ(q.outputs[1].row_shape, Shape{});
  EXPECT_EQ(q.input_row_bytes(), 16u * 8 + 16u * 4);
  EXPECT_EQ(q.output_row_bytes(), 10u * 4 + 8);
  EXPECT_THROW(DeserializePlan("short"), InternalError);
}

// The plan opens with its format version; a rank of another build refuses it
// rather than read its fields as something else.
TEST(JobPlan, RefusesAPlanOfAnotherFormatVersion) {
  JobPlan p;
  p.rows = 10;
  p.chunk_rows = 5;
  p.inputs = {{"x", DType::kFloat32, {10, 4}}};
  std::string bytes = SerializePlan(p);
  int64_t version = 0;
  ASSERT_GE(bytes.size(), sizeof version);
  std::memcpy(&version, bytes.data(), sizeof version);
  const int64_t other = version + 1;
  std::memcpy(bytes.data(), &other, sizeof other);
  try {
    DeserializePlan(bytes);
    FAIL() << "a plan of format version " << other << " was read";
  } catch (const InternalError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("version " + std::to_string(other)), std::string::npos) << message;
    EXPECT_NE(message.find("version " + std::to_string(version)), std::string::npos) << message;
  }
}

TEST(JobPlan, OutputSpecsFollowTheProbe) {
  JobConfig job;
  job.model_path = "m.pt";
  job.output.datasets = {"a", "b"};
  // The engine returns each output in the type it is stored in.
  std::vector<HostArray> probe;
  probe.emplace_back(DType::kFloat64, Shape{4, 3});
  probe.emplace_back(DType::kInt64, Shape{4});
  auto specs = OutputSpecsFromProbe(job, probe, 4);
  ASSERT_EQ(specs.size(), 2u);
  EXPECT_EQ(specs[0].name, "a");
  EXPECT_EQ(specs[0].row_shape, Shape{3});
  EXPECT_EQ(specs[0].dtype, DType::kFloat64);
  EXPECT_EQ(specs[1].row_shape, Shape{});
  EXPECT_EQ(specs[1].dtype, DType::kInt64);
}

TEST(JobPlan, OutputCountMismatchIsAModelError) {
  JobConfig job;
  job.model_path = "m.pt";
  job.output.datasets = {"a"};
  std::vector<HostArray> probe;
  probe.emplace_back(DType::kFloat32, Shape{4, 3});
  probe.emplace_back(DType::kFloat32, Shape{4, 3});
  try {
    OutputSpecsFromProbe(job, probe, 4);
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("returns 2 output(s) but output.datasets names 1 [a]"), std::string::npos);
  }
}

TEST(JobPlan, OutputWithoutBatchDimensionIsAModelError) {
  JobConfig job;
  job.output.datasets = {"a"};
  std::vector<HostArray> probe;
  probe.emplace_back(DType::kFloat32, Shape{10});
  EXPECT_THROW(OutputSpecsFromProbe(job, probe, 4), ModelError);
}

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

// The plan carries the source files to every rank.
TEST(JobPlan, SourceFilesSurviveSerialization) {
  JobPlan plan;
  plan.input_sources = {{"/a.h5", "external link target", {1, 2}}, {"b.raw", "external storage", {3, 4}}};
  const JobPlan back = DeserializePlan(SerializePlan(plan));
  ASSERT_EQ(back.input_sources.size(), 2u);
  EXPECT_EQ(back.input_sources[1].path, "b.raw");
  EXPECT_EQ(back.input_sources[1].role, "external storage");
  EXPECT_EQ(back.input_sources[1].stamp, (FileStamp{3, 4}));
}

// The plan carries the input files, in order, to every rank.
TEST(JobPlan, InputFilesSurviveSerialization) {
  JobPlan plan;
  plan.input_files = {{"/d/part-0000.h5", 5, {100, 7}}, {"/d/part-0001.h5", 0, {96, 8}}};
  const JobPlan back = DeserializePlan(SerializePlan(plan));
  ASSERT_EQ(back.input_files.size(), 2u);
  EXPECT_EQ(back.input_files[1].path, "/d/part-0001.h5");
  EXPECT_EQ(back.input_files[0].rows, 5);
  EXPECT_EQ(back.input_files[1].stamp, (FileStamp{96, 8}));
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

// Chunks of a plan over several files end at each file's end.
TEST(JobPlan, PlanChunksCutsPerFile) {
  JobPlan plan;
  plan.rows = 9;
  plan.chunk_rows = 4;
  EXPECT_EQ(PlanChunks(plan, 2).num_chunks(), 3);  // one file: as ever
  plan.input_files = {{"/d/a.h5", 5, {}}, {"/d/b.h5", 0, {}}, {"/d/c.h5", 4, {}}};
  const ChunkPlan chunks = PlanChunks(plan, 2);
  ASSERT_EQ(chunks.num_chunks(), 3);
  EXPECT_EQ(chunks.chunk(1).begin, 4);
  EXPECT_EQ(chunks.chunk(1).end, 5);
  EXPECT_EQ(chunks.chunk(2).file, 2);
  EXPECT_EQ(chunks.chunk(2).begin, 5);
  EXPECT_EQ(chunks.chunk(2).end, 9);
}

}  // namespace mpsbatch
