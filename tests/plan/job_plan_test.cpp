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
