// End to end: inputs stored as numpy's bool, uint16 and float16 (as h5py
// writes them) are read straight from the file, converted as
// docs/job-reference.md's "Input dtypes" says, and scored as Python torch
// scores the same rows (references from tests/fixtures/make_fixtures.py).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "e2e_util.h"

namespace mpsbatch {

using namespace e2e;

namespace {

HostArray ReadArray(const std::string& path, const std::string& dataset) {
  InputFile f(path);
  const DatasetInfo info = f.Describe(dataset);
  return f.ReadRows(info, 0, info.shape[0]);
}

std::string Bytes(const HostArray& a) {
  return std::string(reinterpret_cast<const char*>(a.bytes.data()), a.bytes.size());
}

}  // namespace

// float16 is floating: cast to the precision's dtype (float32 at fp32).
TEST_F(E2E, Float16InputIsCastToFloat32AndMatchesReference) {
  auto r = RunMpsbatch(2, WriteJob(dir_, "mlp.pt", "[x_f16]"));
  EXPECT_RUN_OK(r);
  EXPECT_NE(r.output.find("x_f16 read directly"), std::string::npos) << r.output;
  ExpectNear(ReadFloats(Out(), "y"), ReadFloats(Fixture("reference.h5"), "mlp_x_f16"), Tolerance());
}

TEST_F(E2E, Uint16InputWithScaleMatchesReference) {
  auto r = RunMpsbatch(2, WriteJob(dir_, "mlp.pt", "[x_u16_wide]"), {"--set", "input.scale=1.5259021896696422e-05"});
  EXPECT_RUN_OK(r);
  EXPECT_NE(r.output.find("x_u16_wide read directly"), std::string::npos) << r.output;
  ExpectNear(ReadFloats(Out(), "y"), ReadFloats(Fixture("reference.h5"), "mlp_x_u16_wide_scaled"), Tolerance());
}

TEST_F(E2E, BoolInputCastByInputDtypeMatchesReference) {
  auto r = RunMpsbatch(2, WriteJob(dir_, "mlp.pt", "[x_bool]"), {"--set", "input.dtype=float32"});
  EXPECT_RUN_OK(r);
  EXPECT_NE(r.output.find("x_bool read directly"), std::string::npos) << r.output;
  ExpectNear(ReadFloats(Out(), "y"), ReadFloats(Fixture("reference.h5"), "mlp_x_bool_float"), Tolerance());
}

// Without a cast, bool and uint16 reach the model in their own types (as
// torch.from_numpy gives them); a model that returns them stores bool as
// uint8 0/1 and uint16 as uint16.
TEST_F(E2E, BoolAndUint16ReachTheModelInTheirOwnTypes) {
  auto r = RunMpsbatch(2, WriteJob(dir_, "identity.pt", "[x_bool]", "[y]", "path: eager\n"));
  EXPECT_RUN_OK(r);
  const HostArray flags = ReadArray(Out(), "y"), stored = ReadArray(Fixture("inputs.h5"), "x_bool");
  EXPECT_EQ(flags.dtype, DType::kUInt8);
  EXPECT_EQ(stored.dtype, DType::kBool);
  EXPECT_EQ(flags.shape, stored.shape);
  EXPECT_TRUE(Bytes(flags) == Bytes(stored));
  const std::string out16 = (dir_ / "out16.h5").string();
  auto r16 = RunMpsbatch(2, WriteJob(dir_, "identity.pt", "[x_u16_wide]", "[y]", "path: eager\n"),
                         {"--set", "output.path=" + out16});
  EXPECT_RUN_OK(r16);
  const HostArray wide = ReadArray(out16, "y");
  EXPECT_EQ(wide.dtype, DType::kUInt16);
  EXPECT_TRUE(Bytes(wide) == Bytes(ReadArray(Fixture("inputs.h5"), "x_u16_wide")));
}

}  // namespace mpsbatch
