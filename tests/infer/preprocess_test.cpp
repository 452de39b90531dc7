// The conversions around forward() (infer/preprocess.h): input dtypes, scale,
// layout and normalisation on the device, and the types outputs are stored in.
#include <gtest/gtest.h>

#include "common/error.h"
#include "infer/torch_test_util.h"

namespace mpsbatch {

TEST(Engine, IntegerInputKeepsItsType) {
  auto e = MakeEngine(kDtypeProbe);
  HostArray x = Array<uint8_t>(DType::kUInt8, {2, 2}, {0, 7, 16, 255});
  auto out = e->Run({View(x)});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(Values<float>(out[1]), (std::vector<float>{10, 10}));
  EXPECT_EQ(Values<float>(out[0]), (std::vector<float>{0, 7, 16, 255}));
}

TEST(Engine, ScaleMakesIntegerInputFloating) {
  EngineOptions o;
  o.input_scale = 0.0625;
  auto e = MakeEngine(kDtypeProbe, o);
  HostArray x = Array<uint8_t>(DType::kUInt8, {1, 2}, {16, 8});
  auto out = e->Run({View(x)});
  EXPECT_EQ(Values<float>(out[1]), (std::vector<float>{41}));
  EXPECT_EQ(Values<float>(out[0]), (std::vector<float>{1.0f, 0.5f}));
}

TEST(Engine, Float64ReachesTheModelAsFloat32) {
  auto e = MakeEngine(kDtypeProbe);
  HostArray x = Array<double>(DType::kFloat64, {1, 2}, {0.1, -2.5});
  auto out = e->Run({View(x)});
  EXPECT_EQ(Values<float>(out[1]), (std::vector<float>{41}));
  EXPECT_EQ(Values<float>(out[0]), (std::vector<float>{0.1f, -2.5f}));
}

TEST(Engine, InputDtypeCasts) {
  EngineOptions o;
  o.input_dtype = DType::kInt64;
  auto e = MakeEngine(kDtypeProbe, o);
  HostArray x = Array<int32_t>(DType::kInt32, {1, 2}, {3, -4});
  auto out = e->Run({View(x)});
  EXPECT_EQ(Values<float>(out[1]), (std::vector<float>{80}));
  EXPECT_EQ(Values<float>(out[0]), (std::vector<float>{3, -4}));
}

TEST(Engine, PrecisionSetsTheFloatingInputDtype) {
  EngineOptions o;
  o.precision = Precision::kBf16;
  auto e = MakeEngine(kDtypeProbe, o);
  // 1 + 2^-10 survives float16 (10 mantissa bits) but rounds to 1 in bfloat16.
  HostArray x = Array<float>(DType::kFloat32, {1, 2}, {1.5f, 1.0009765625f});
  auto out = e->Run({View(x)});
  EXPECT_EQ(Values<float>(out[1]), (std::vector<float>{21}));
  EXPECT_EQ(Values<float>(out[0]), (std::vector<float>{1.5f, 1.0f}));
}

// numpy's bool, uint16 and float16: bool and uint16 keep their types (as
// torch.from_numpy gives them), a scale makes them floating, float16 is cast
// to the precision's dtype.
TEST(Engine, BoolUint16AndFloat16Inputs) {
  auto e = MakeEngine(kDtypeProbe);
  HostArray flags = Array<uint8_t>(DType::kBool, {1, 2}, {1, 0});
  auto out = e->Run({View(flags)});
  EXPECT_EQ(Values<float>(out[1]), (std::vector<float>{10}));
  EXPECT_EQ(Values<float>(out[0]), (std::vector<float>{1, 0}));
  HostArray wide = Array<uint16_t>(DType::kUInt16, {1, 2}, {65535, 300});
  out = e->Run({View(wide)});
  EXPECT_EQ(Values<float>(out[1]), (std::vector<float>{20}));
  EXPECT_EQ(Values<float>(out[0]), (std::vector<float>{65535, 300}));
  HostArray half = Array<uint16_t>(DType::kFloat16, {1, 2}, {0x3e00, 0xc100});  // 1.5, -2.5
  out = e->Run({View(half)});
  EXPECT_EQ(Values<float>(out[1]), (std::vector<float>{41}));
  EXPECT_EQ(Values<float>(out[0]), (std::vector<float>{1.5f, -2.5f}));
  EngineOptions scaled;
  scaled.input_scale = 1.0 / 65535;
  auto s = MakeEngine(kDtypeProbe, scaled);
  out = s->Run({View(wide)});
  EXPECT_EQ(Values<float>(out[1]), (std::vector<float>{41}));
  EXPECT_FLOAT_EQ(Values<float>(out[0])[0], 1.0f);
  out = s->Run({View(flags)});
  EXPECT_EQ(Values<float>(out[1]), (std::vector<float>{41}));
}

TEST(Engine, OutputDtypeAndTwoInputs) {
  EngineOptions o;
  o.output_dtype = DType::kFloat64;
  auto e = MakeEngine("def forward(self, a, b):\n    return a + b\n", o);
  HostArray a = Array<float>(DType::kFloat32, {2, 1}, {1, 2});
  HostArray b = Array<float>(DType::kFloat32, {2, 1}, {10, 20});
  auto out = e->Run({View(a), View(b)});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].dtype, DType::kFloat64);
  EXPECT_EQ(Values<double>(out[0]), (std::vector<double>{11, 22}));
}

TEST(Engine, OutputsKeepTheirOwnTypesWithoutOutputDtype) {
  auto e = MakeEngine(
      "def forward(self, x):\n"
      "    return x.long() + 120000000001, x > 1.0, x.half(), x.int()\n");
  HostArray x = Array<float>(DType::kFloat32, {2, 1}, {1, 3});
  auto out = e->Run({View(x)});
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].dtype, DType::kInt64);  // float32 would round 120000000002 to 120000004096
  EXPECT_EQ(Values<int64_t>(out[0]), (std::vector<int64_t>{120000000002, 120000000004}));
  EXPECT_EQ(out[1].dtype, DType::kUInt8);  // bool as 0 or 1
  EXPECT_EQ(Values<uint8_t>(out[1]), (std::vector<uint8_t>{0, 1}));
  EXPECT_EQ(out[2].dtype, DType::kFloat32);  // float16 widened exactly
  EXPECT_EQ(Values<float>(out[2]), (std::vector<float>{1, 3}));
  EXPECT_EQ(out[3].dtype, DType::kInt32);
}

TEST(Engine, ComplexOutputsAreRefusedNamingThem) {
  EngineOptions o;
  o.output_names = {"re", "z"};
  for (std::optional<DType> requested : {std::optional<DType>(), std::optional<DType>(DType::kFloat32)}) {
    o.output_dtype = requested;
    auto e = MakeEngine("def forward(self, x):\n    return x, torch.complex(x, x)\n", o);
    HostArray x = Array<float>(DType::kFloat32, {1, 1}, {1});
    try {
      e->Run({View(x)});
      FAIL() << "a complex output was stored";
    } catch (const ModelError& error) {
      EXPECT_NE(std::string(error.what()).find("output 1 ('z') is complex"), std::string::npos) << error.what();
    }
  }
}

TEST(Engine, NormalisesNhwcImagesOnTheDevice) {
  for (DeviceRequest device : Devices()) {
    EngineOptions o;
    o.device = device;
    o.input_scale = 0.5;
    o.input_mean = {1, 2, 3};
    o.input_std = {2, 4, 8};
    o.input_layout = InputLayout::kNhwc;
    auto e = MakeEngine("def forward(self, x):\n    return x\n", o);
    // One image, 1 x 2 pixels, channels last: pixel 0 is (0, 1, 2), pixel 1 (3, 4, 5).
    HostArray x = Array<uint8_t>(DType::kUInt8, {1, 1, 2, 3}, {0, 1, 2, 3, 4, 5});
    auto out = e->Run({View(x)});
    EXPECT_EQ(out[0].shape, (Shape{1, 3, 1, 2}));
    EXPECT_EQ(Values<float>(out[0]), (std::vector<float>{-0.5f, 0.25f, -0.375f, 0.0f, -0.25f, -0.0625f}))
        << DeviceRequestName(device);
  }
}

}  // namespace mpsbatch
