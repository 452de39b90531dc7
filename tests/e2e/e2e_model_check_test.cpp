// End to end: a model's outputs are stored without loss or refused, and an
// AOTInductor package fed what it was not exported for is refused before any
// batch runs (also with --dry-run), never left to compute garbage or abort.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "e2e_util.h"

namespace mpsbatch {

using namespace e2e;

namespace {

// Dataset `dataset` of `path` as stored: its dtype and raw bytes.
HostArray ReadArray(const std::string& path, const std::string& dataset) {
  InputFile f(path);
  const DatasetInfo info = f.Describe(dataset);
  return f.ReadRows(info, 0, info.shape[0]);
}

std::string Bytes(const HostArray& a) {
  return std::string(reinterpret_cast<const char*>(a.bytes.data()), a.bytes.size());
}

// A refusal: the model error's exit code, the message, no output file, and no
// abort or backtrace from inside a package's kernels.
void ExpectModelError(const RunResult& r, const std::string& message, const std::string& out) {
  EXPECT_EQ(r.exit_code, 5) << r.output;
  EXPECT_NE(r.output.find(message), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("terminate called"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("frame #"), std::string::npos) << "a backtrace: " << r.output;
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace

// int64 values near 1.2e11 lost up to 4,096 when stored as float32; int32 and
// bool outputs became float32 too.
TEST_F(E2E, IntegerAndBoolOutputsAreStoredInTheirOwnTypes) {
  auto r = RunMpsbatch(2, WriteJob(dir_, "int_outputs.pt", "[x_f32]", "[big, argmax, positive]"));
  EXPECT_RUN_OK(r);
  const std::vector<std::pair<std::string, DType>> outputs = {
      {"big", DType::kInt64}, {"argmax", DType::kInt32}, {"positive", DType::kUInt8}};
  for (const auto& [name, dtype] : outputs) {
    SCOPED_TRACE(name);
    const HostArray got = ReadArray(Out(), name), want = ReadArray(Fixture("reference.h5"), "int_outputs_" + name);
    EXPECT_EQ(got.dtype, dtype);
    EXPECT_EQ(got.shape, want.shape);
    EXPECT_TRUE(Bytes(got) == Bytes(want)) << "values differ from the model's";
  }
}

TEST_F(E2E, IntegerOutputsAreBitwiseIdenticalAcrossRankCounts) {
  const auto job = WriteJob(dir_, "int_outputs.pt", "[x_f32]", "[big, argmax, positive]", "path: eager\n");
  std::string first;
  for (int ranks : {1, 3}) {
    const std::string out = (dir_ / ("out" + std::to_string(ranks) + ".h5")).string();
    auto r = RunMpsbatch(ranks, job, {"--set", "output.path=" + out});
    EXPECT_RUN_OK(r);
    std::string all;
    for (const char* name : {"big", "argmax", "positive"}) all += Bytes(ReadArray(out, name));
    if (first.empty()) first = all;
    EXPECT_TRUE(all == first) << ranks << " ranks differ from 1";
  }
}

// output.dtype is an explicit request: every output is converted to it.
TEST_F(E2E, ExplicitOutputDtypeConvertsEveryOutput) {
  auto r = RunMpsbatch(1, WriteJob(dir_, "int_outputs.pt", "[x_f32]", "[big, argmax, positive]"),
                       {"--set", "output.dtype=float64"});
  EXPECT_RUN_OK(r);
  const HostArray big = ReadArray(Out(), "big"), want = ReadArray(Fixture("reference.h5"), "int_outputs_big");
  ASSERT_EQ(big.dtype, DType::kFloat64);
  const auto* got = reinterpret_cast<const double*>(big.bytes.data());
  const auto* exact = reinterpret_cast<const int64_t*>(want.bytes.data());
  for (int64_t i = 0; i < NumElements(want.shape); ++i) ASSERT_EQ(got[i], static_cast<double>(exact[i])) << i;
  EXPECT_EQ(ReadArray(Out(), "positive").dtype, DType::kFloat64);
}

// A complex output lost its imaginary part, with exit 0.
TEST_F(E2E, ComplexOutputIsAModelErrorNamingIt) {
  const auto job = WriteJob(dir_, "complex_output.pt", "[x_f32]", "[re, z]");
  for (const std::vector<std::string>& args : {std::vector<std::string>{}, {"--set", "output.dtype=float32"}}) {
    auto r = RunMpsbatch(2, job, args);
    ExpectModelError(r, "output 1 ('z') is complex", Out());
    EXPECT_NE(r.output.find("torch.view_as_real"), std::string::npos) << r.output;
  }
}

// A batch whose output type differs from the first batch's would be copied
// into the chunk with the wrong size.
TEST_F(E2E, OutputTypeThatChangesMidRunIsAModelError) {
  auto r = RunMpsbatch(2, WriteJob(dir_, "type_switch.pt", "[x_poisoned]", "[y]", "path: eager\n"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("output 'y' is int64, float32 on the first batch"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(Out()));
}

class AotiPackage : public E2E {
 protected:
  void SetUp() override {
    if (!MPSBATCH_HAVE_AOTI) GTEST_SKIP() << "libtorch without AOTInductor";
    E2E::SetUp();
  }
};

// Rows off by up to 4.5e36, exit 0: bfloat16 bytes read as float32.
TEST_F(AotiPackage, ExportedInFp32RefusesPrecisionBf16) {
  const auto job = WriteJob(dir_, "mlp_aoti.pt2", "[x_f32]");
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--set", "precision=bf16"}, {"--set", "precision=bf16", "--dry-run"}}) {
    auto r = RunMpsbatch(2, job, args);
    ExpectModelError(r, "takes input 0 ('x_f32') as float32, and the job gives it as bfloat16", Out());
    EXPECT_NE(r.output.find("set precision: fp32"), std::string::npos) << r.output;
  }
}

// 9,000 NaNs, exit 0: uint8 bytes read as float32.
TEST_F(AotiPackage, Uint8RowsIntoAFloatPackageAreRefused) {
  auto r = RunMpsbatch(2, WriteJob(dir_, "mlp_aoti.pt2", "[x_u8]"));
  ExpectModelError(r, "takes input 0 ('x_u8') as float32, and the job gives it as uint8", Out());
  EXPECT_NE(r.output.find("set input.dtype: float32"), std::string::npos) << r.output;
  // The key it names fixes it.
  r = RunMpsbatch(2, WriteJob(dir_, "mlp_aoti.pt2", "[x_u8]"), {"--set", "input.scale=0.0625"});
  EXPECT_RUN_OK(r);
}

// int32 ids read as int64: "index out of bounds" from inside a kernel, with a
// backtrace of 30 lines (or, where the kernel runs threaded, terminate
// called and exit 134).
TEST_F(AotiPackage, Int32IdsIntoAnInt64PackageAreRefused) {
  auto r = RunMpsbatch(2, WriteJob(dir_, "two_inputs_aoti.pt2", "[ids_i32, mask]"));
  ExpectModelError(r, "takes input 0 ('ids_i32') as int64, and the job gives it as int32", Out());
  EXPECT_NE(r.output.find("store 'ids_i32' as int64"), std::string::npos) << r.output;
  r = RunMpsbatch(2, WriteJob(dir_, "two_inputs_aoti.pt2", "[ids, mask]"));
  EXPECT_RUN_OK(r);
  ExpectNear(ReadFloats(Out(), "y"), ReadFloats(Fixture("reference.h5"), "two_inputs"), 1e-4);
}

TEST_F(AotiPackage, FixedBatchPackageIsRefusedWithHowToExportADynamicOne) {
  auto r = RunMpsbatch(1, WriteJob(dir_, "mlp_aoti_fixed_batch.pt2", "[x_f32]"), {"--dry-run"});
  ExpectModelError(r, "exported with a fixed batch of 8 rows", Out());
  EXPECT_NE(r.output.find("torch.export.Dim"), std::string::npos) << r.output;
}

// A package without its generated source says nothing about its inputs: its
// own checks run on the probe batch, and their refusal is a model error.
TEST_F(AotiPackage, PackageWithoutItsSourceIsCheckedByItsOwnRuntime) {
  auto r = RunMpsbatch(2, WriteJob(dir_, "two_inputs_aoti_nosource.pt2", "[ids_i32, mask]"));
  ExpectModelError(r, "its own input checks refuse the job's", Out());
  EXPECT_NE(r.output.find("unmatched dtype"), std::string::npos) << r.output;
  r = RunMpsbatch(2, WriteJob(dir_, "mlp_aoti_nosource.pt2", "[x_u8]"), {"--dry-run"});
  ExpectModelError(r, "its own input checks refuse the job's", Out());
  // What it takes passes, also the smaller last batch (7 rows).
  r = RunMpsbatch(2, WriteJob(dir_, "mlp_aoti_nosource.pt2", "[x_f32]"));
  EXPECT_RUN_OK(r);
  ExpectNear(ReadFloats(Out(), "y"), ReadFloats(Fixture("reference.h5"), "mlp_aoti_x_f32"), Tolerance());
  // A 1-row batch, below the lower bound of 2 that torch.export records for
  // a dynamic batch, runs as it does without the checks.
  r = RunMpsbatch(1, WriteJob(dir_, "mlp_aoti_nosource.pt2", "[x_one]"), {"--set", "output.overwrite=true"});
  EXPECT_RUN_OK(r);
}

// A package alone leaves path: auto one candidate: it is built and checked,
// not timed, and the job scores as it would timed.
TEST_F(AotiPackage, PackageAloneIsNotTimedUnderAuto) {
  auto r = RunMpsbatch(2, WriteJob(dir_, "mlp_aoti.pt2", "[x_f32]", "[y]", "calibration_cache: off\n"));
  EXPECT_RUN_OK(r);
  EXPECT_NE(r.output.find("path aoti (untimed)"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("rows/s at batch"), std::string::npos) << r.output;
  ExpectNear(ReadFloats(Out(), "y"), ReadFloats(Fixture("reference.h5"), "mlp_aoti_x_f32"), Tolerance());
}

// Beside a TorchScript model, a model.compiled that does not fit is a path
// calibration rejects under path: auto (it aborted the job), and an error
// when path: aoti forces it.
TEST_F(AotiPackage, CompiledPackageThatDoesNotFitIsRejectedOrRefused) {
  const auto job =
      WriteJob(dir_, "two_inputs.pt", "[ids_i32, mask]", "[y]", "calibration_seconds: 5\ncalibration_cache: off\n");
  const std::string compiled = "model.compiled=" + Fixture("two_inputs_aoti.pt2");
  auto r = RunMpsbatch(2, job, {"--set", compiled});
  EXPECT_RUN_OK(r);
  EXPECT_NE(r.output.find("aoti rejected: model.compiled"), std::string::npos) << r.output;
  ExpectNear(ReadFloats(Out(), "y"), ReadFloats(Fixture("reference.h5"), "two_inputs"), Tolerance());
  fs::remove(Out());
  r = RunMpsbatch(2, job, {"--set", compiled, "--set", "path=aoti", "--dry-run"});
  ExpectModelError(r, "model.compiled '" + Fixture("two_inputs_aoti.pt2") + "': the package takes input 0", Out());
}

}  // namespace mpsbatch
