// The engine: input conversion, output forms and dtypes, devices and errors.
// Models are TorchScript modules defined here in C++ and saved to bytes.
#include "infer/engine.h"

#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/script.h>

#include <cstring>
#include <sstream>

#include "common/error.h"

namespace mpsbatch {

namespace {

// A TorchScript module whose forward() is `body`, as bytes.
std::shared_ptr<const std::string> ModelBytes(const std::string& body) {
  torch::jit::Module m("M");
  m.define(body);
  std::ostringstream out;
  m.save(out);
  return std::make_shared<const std::string>(out.str());
}

std::unique_ptr<Engine> MakeEngine(const std::string& body, EngineOptions o = {}) {
  o.device = o.device == DeviceRequest::kAuto ? DeviceRequest::kCpu : o.device;
  return Engine::Create({"test.pt", ModelBytes(body)}, o);
}

template <typename T>
HostArray Array(DType dtype, Shape shape, std::vector<T> values) {
  HostArray a(dtype, std::move(shape));
  EXPECT_EQ(a.bytes.size(), values.size() * sizeof(T));
  std::memcpy(a.bytes.data(), values.data(), a.bytes.size());
  return a;
}

template <typename T>
std::vector<T> Values(const HostArray& a) {
  std::vector<T> v(a.bytes.size() / sizeof(T));
  std::memcpy(v.data(), a.bytes.data(), a.bytes.size());
  return v;
}

ArrayView View(const HostArray& a) { return RowSlice(a, 0, a.rows()); }

// forward() that reports the dtype it received as a number, next to the data:
// 10 * bytes per element, plus 1 when floating (uint8 10, float32 41, int64 80,
// bfloat16 21). (torch.uint8 and friends do not resolve in C++ define().)
const char* kDtypeProbe = R"(
def forward(self, x):
    code = x.element_size() * 10
    if x.is_floating_point():
        code += 1
    return x.float(), torch.full([x.size(0)], code)
)";

}  // namespace

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

TEST(Engine, ListOutputsAreOutputs) {
  auto e = MakeEngine("def forward(self, x):\n    return [x, x * 2.0, x * 3.0]\n");
  HostArray x = Array<float>(DType::kFloat32, {1, 1}, {1});
  auto out = e->Run({View(x)});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(Values<float>(out[2]), (std::vector<float>{3}));
}

TEST(Engine, BadOutputsAreModelErrors) {
  HostArray x = Array<float>(DType::kFloat32, {1, 1}, {1});
  EXPECT_THROW(MakeEngine("def forward(self, x):\n    return {'a': x}\n")->Run({View(x)}), ModelError);
  EXPECT_THROW(MakeEngine("def forward(self, x):\n    return x.sum()\n")->Run({View(x)}), ModelError);
  EXPECT_THROW(MakeEngine("def forward(self, x):\n    return x.view(-1, 2)\n")->Run({View(x)}), ModelError);
}

TEST(Engine, ExceptionRaisedInTheModelIsAModelError) {
  auto e = MakeEngine("def forward(self, x):\n    assert x.size(0) > 100, 'bad row'\n    return x\n");
  HostArray x = Array<float>(DType::kFloat32, {1, 1}, {1});
  try {
    e->Run({View(x)});
    FAIL();
  } catch (const ModelError& err) {
    EXPECT_NE(std::string(err.what()).find("bad row"), std::string::npos);
  }
}

TEST(Engine, LoadErrors) {
  EngineOptions o;
  o.device = DeviceRequest::kCpu;
  EXPECT_THROW(Engine::Create({"/no/such/model.pt", nullptr}, o), ModelError);
  EXPECT_THROW(Engine::Create({"junk.pt", std::make_shared<const std::string>("junk")}, o), ModelError);
}

TEST(Engine, MissingDeviceIsAnErrorNotAFallback) {
  EngineOptions o;
  o.device = DeviceRequest::kMps;
#if !defined(__APPLE__)
  EXPECT_THROW(MakeEngine("def forward(self, x):\n    return x\n", o), DeviceError);
#endif
  if (!torch::cuda::is_available()) {
    o.device = DeviceRequest::kCuda;
    EXPECT_THROW(MakeEngine("def forward(self, x):\n    return x\n", o), DeviceError);
  }
}

TEST(Engine, AutoPicksAnAvailableDevice) {
  EngineOptions o;
  auto e = Engine::Create({"test.pt", ModelBytes("def forward(self, x):\n    return x\n")}, o);
  if (torch::cuda::is_available())
    EXPECT_EQ(e->device_kind(), DeviceKind::kCuda);
  else
    EXPECT_NE(e->device_kind(), DeviceKind::kCuda);
  EXPECT_EQ(e->format(), "torchscript");
}

}  // namespace mpsbatch
