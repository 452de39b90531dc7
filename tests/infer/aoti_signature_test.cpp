// ParseAotiInputChecks on the source AOTInductor generates, and the messages
// of AotiInputMismatch for what a job may feed a package.
#include "infer/aoti_signature.h"

#include <gtest/gtest.h>

namespace mpsbatch {
namespace {

// The shape of torch 2.13's generated checks (codegen/cpp_wrapper_cpu.py),
// for an input of float32 [batch in 2..1024, 8] and one of int64 [batch, 16].
const char* kWrapper = R"(
AOTI_NOINLINE static void check_input_0(
    AtenTensorHandle* input_handles
) {
    int32_t arg0_1_expected_dtype = aoti_torch_dtype_float32();
    if (arg0_1_size[0] < 2) {
        ss << "input_handles[0]: dim value is too small at 0, "
           << "expected it to be >= 2, " << "but got: "
    if (arg0_1_size[0] > 1024) {
        ss << "input_handles[0]: dim value is too large at 0, "
           << "expected to be <= 1024, " << "but got: "
    if (8 != arg0_1_size[1]) {
        ss << "input_handles[0]: unmatched dim value at 1, "
           << "expected: 8, " << "but got: " << arg0_1_size[1]
        ss << "input_handles[0]: unmatched stride value at 0, "
           << "expected: 8, " << "but got: " << arg0_1_stride[0]
        ss << "input_handles[0]: unmatched stride value at 1, "
           << "expected: 1, " << "but got: " << arg0_1_stride[1]
}
AOTI_NOINLINE static void check_input_1(
    AtenTensorHandle* input_handles
) {
    int32_t arg1_1_expected_dtype = aoti_torch_dtype_int64();
        ss << "input_handles[1]: unmatched dim value at 1, "
           << "expected: 16, " << "but got: " << arg1_1_size[1]
        ss << "input_handles[1]: unmatched stride value at 1, "
           << "expected: 1, " << "but got: " << arg1_1_stride[1]
}
static bool _check_aoti_runtime_check_inputs_env() {
)";

std::vector<ModelFeed> Feeds(DType first, DType second) {
  return {{"x", first, first, {8}}, {"ids", second, second, {16}}};
}

TEST(AotiSignature, ParsesTheGeneratedInputChecks) {
  const auto inputs = ParseAotiInputChecks(kWrapper);
  ASSERT_EQ(inputs.size(), 2u);
  EXPECT_EQ(inputs[0].dtype, "float32");
  ASSERT_EQ(inputs[0].dims.size(), 2u);
  EXPECT_EQ(inputs[0].dims[0].size, -1);
  EXPECT_EQ(inputs[0].dims[0].min, 2);
  EXPECT_EQ(inputs[0].dims[0].max, 1024);
  EXPECT_EQ(inputs[0].dims[1].size, 8);
  EXPECT_EQ(inputs[1].dtype, "int64");
  ASSERT_EQ(inputs[1].dims.size(), 2u);
  EXPECT_EQ(inputs[1].dims[1].size, 16);
  EXPECT_TRUE(ParseAotiInputChecks("int main() {}").empty());
}

TEST(AotiSignature, MismatchesNameWhatDiffersAndTheKey) {
  const auto inputs = ParseAotiInputChecks(kWrapper);
  EngineOptions o;
  const BatchSizes batches{64, false, false};
  EXPECT_EQ(AotiInputMismatch(inputs, Feeds(DType::kFloat32, DType::kInt64), batches, o), "");
  const std::string ids = AotiInputMismatch(inputs, Feeds(DType::kFloat32, DType::kInt32), batches, o);
  EXPECT_NE(ids.find("takes input 1 ('ids') as int64, and the job gives it as int32"), std::string::npos) << ids;
  EXPECT_NE(ids.find("store 'ids' as int64"), std::string::npos) << ids;  // input.dtype would cast x too
  auto feeds = Feeds(DType::kFloat32, DType::kInt64);
  feeds[0].dtype = DType::kBFloat16;
  o.precision = Precision::kBf16;
  const std::string bf16 = AotiInputMismatch(inputs, feeds, batches, o);
  EXPECT_NE(bf16.find("set precision: fp32"), std::string::npos) << bf16;
  o.precision = Precision::kFp32;
  feeds = Feeds(DType::kFloat32, DType::kInt64);
  feeds[0].row_shape = {9};
  EXPECT_NE(AotiInputMismatch(inputs, feeds, batches, o).find("in rows of [8], and the job gives rows of [9]"),
            std::string::npos);
  const std::string large = AotiInputMismatch(inputs, Feeds(DType::kFloat32, DType::kInt64), {2048, false, false}, o);
  EXPECT_NE(large.find("set batch_size: 1024 or less"), std::string::npos) << large;
  EXPECT_NE(AotiInputMismatch(inputs, {Feeds(DType::kFloat32, DType::kInt64)[0]}, batches, o).find("takes 2 inputs"),
            std::string::npos);
}

TEST(AotiSignature, AFixedBatchFitsOnlyBatchesOfItsSize) {
  std::vector<AotiInput> inputs = {{"float32", {{8, -1, -1}, {8, -1, -1}}, {8, 1}}};
  const std::vector<ModelFeed> feeds = {{"x", DType::kFloat32, DType::kFloat32, {8}}};
  EXPECT_EQ(AotiInputMismatch(inputs, feeds, {8, true, false}, {}), "");
  const std::string ragged = AotiInputMismatch(inputs, feeds, {8, false, false}, {});
  EXPECT_NE(ragged.find("fixed batch of 8 rows"), std::string::npos) << ragged;
  EXPECT_NE(ragged.find("torch.export.Dim"), std::string::npos) << ragged;
}

}  // namespace
}  // namespace mpsbatch
