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
  return Engine::Create({"test.pt", ModelBytes(body), ""}, o);
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
    return x.float(), torch.full([x.size(0)], code).float()
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
  EXPECT_THROW(Engine::Create({"/no/such/model.pt", nullptr, ""}, o), ModelError);
  EXPECT_THROW(Engine::Create({"junk.pt", std::make_shared<const std::string>("junk"), ""}, o), ModelError);
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
  auto e = Engine::Create({"test.pt", ModelBytes("def forward(self, x):\n    return x\n"), ""}, o);
  if (torch::cuda::is_available())
    EXPECT_EQ(e->device_kind(), DeviceKind::kCuda);
  else
    EXPECT_NE(e->device_kind(), DeviceKind::kCuda);
  EXPECT_EQ(e->format(), "torchscript");
}

// The devices this host offers: the new-path tests run on each.
std::vector<DeviceRequest> Devices() {
  std::vector<DeviceRequest> d{DeviceRequest::kCpu};
  if (torch::cuda::is_available()) d.push_back(DeviceRequest::kCuda);
  return d;
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

// Batches sliced from one chunk of 4 MiB: on CUDA the chunk lies in a
// page-locked block (buffer.h) and the device copies each batch straight from
// it while earlier batches run; the rows must arrive intact, in order.
TEST(Engine, PipelineTakesBatchesFromOneLargeChunk) {
  for (DeviceRequest device : Devices()) {
    EngineOptions o;
    o.device = device;
    auto e = MakeEngine("def forward(self, x):\n    return x.sum(1)\n", o);
    HostArray chunk(DType::kFloat32, {4096, 256});
    auto* v = reinterpret_cast<float*>(chunk.bytes.data());
    for (int64_t i = 0; i < 4096 * 256; ++i) v[i] = static_cast<float>(i / 256 % 1000);  // row r: r % 1000
    if (e->device_kind() == DeviceKind::kCuda) {
      EXPECT_TRUE(FromBlockSource(chunk.bytes.data(), chunk.bytes.size()));
    }
    std::vector<float> sums;
    auto finish = [&] {
      for (float s : Values<float>(e->Finish()[0])) sums.push_back(s);
    };
    for (int64_t b = 0; b < 4096; b += 512) {
      if (e->in_flight() == e->max_in_flight()) finish();
      e->Start({RowSlice(chunk, b, b + 512)});
    }
    while (e->in_flight() > 0) finish();
    ASSERT_EQ(sums.size(), 4096u);
    for (size_t r = 0; r < sums.size(); ++r) ASSERT_EQ(sums[r], 256.0f * static_cast<float>(r % 1000)) << "row " << r;
  }
}

TEST(Engine, PipelineReturnsBatchesInOrder) {
  for (DeviceRequest device : Devices()) {
    EngineOptions o;
    o.device = device;
    auto e = MakeEngine("def forward(self, x):\n    return x * 2.0\n", o);
    std::vector<HostArray> batches;
    for (int b = 0; b < 5; ++b) batches.push_back(Array<float>(DType::kFloat32, {2, 1}, {1.0f * b, 10.0f + b}));
    int next = 0;
    for (int b = 0; b < 5; ++b) {
      if (e->in_flight() == e->max_in_flight()) {
        EXPECT_EQ(Values<float>(e->Finish()[0]), (std::vector<float>{2.0f * next, 20.0f + 2 * next}));
        ++next;
      }
      e->Start({View(batches[static_cast<size_t>(b)])});
    }
    EXPECT_THROW(e->Start({View(batches[0])}), InternalError);
    while (e->in_flight() > 0) {
      EXPECT_EQ(Values<float>(e->Finish()[0]), (std::vector<float>{2.0f * next, 20.0f + 2 * next}));
      ++next;
    }
    EXPECT_EQ(next, 5);
  }
}

TEST(Engine, CalibrationTimesEveryPathAndKeepsTheResults) {
  for (DeviceRequest device : Devices()) {
    EngineOptions o;
    o.device = device;
    auto e = MakeEngine("def forward(self, x):\n    return torch.tanh(x * 2.0 + 1.0)\n", o);
    HostArray x = Array<float>(DType::kFloat32, {4, 2}, {0, 1, 2, 3, -1, -2, -3, 0.5f});
    const auto before = Values<float>(e->Run({View(x)})[0]);
    Calibration c = e->Calibrate({View(x)}, 5.0);
    EXPECT_EQ(c.batch_rows, 4);
    std::vector<std::string> tried;
    for (const auto& p : c.paths) {
      tried.push_back(p.path);
      EXPECT_EQ(p.rejected, "") << p.path;
      EXPECT_GT(p.rows_per_second, 0) << p.path;
    }
    ASSERT_GE(tried.size(), 2u);
    EXPECT_EQ(tried[0], "eager");
    EXPECT_EQ(tried[1], "frozen");
    if (device == DeviceRequest::kCuda) {
      EXPECT_EQ(tried.back().rfind("cudagraph(", 0), 0u) << tried.back();
    }
    EXPECT_NE(c.Summary().find(c.chosen), std::string::npos);
    EXPECT_GT(c.rows_per_second, 0);
    // The chosen path, for the calibrated shape and another.
    const auto after = Values<float>(e->Run({View(x)})[0]);
    for (size_t i = 0; i < before.size(); ++i) EXPECT_NEAR(after[i], before[i], 1e-6);
    HostArray three = Array<float>(DType::kFloat32, {3, 2}, {0, 1, 2, 3, -1, -2});
    const auto other = Values<float>(e->Run({View(three)})[0]);
    for (size_t i = 0; i < other.size(); ++i) EXPECT_NEAR(other[i], before[i], 1e-6);
  }
}

TEST(Engine, ForcedPathIsTheOnlyOneTried) {
  for (DeviceRequest device : Devices()) {
    EngineOptions o;
    o.device = device;
    o.path = PathRequest::kFrozen;
    auto e = MakeEngine("def forward(self, x):\n    return x + 1.0\n", o);
    HostArray x = Array<float>(DType::kFloat32, {2, 1}, {1, 2});
    Calibration c = e->Calibrate({View(x)}, 5.0);
    ASSERT_EQ(c.paths.size(), 1u);
    EXPECT_EQ(c.chosen, "frozen");
    EXPECT_EQ(Values<float>(e->Run({View(x)})[0]), (std::vector<float>{2, 3}));
  }
}

TEST(Engine, AdoptBuildsAnotherRanksChoiceUntimed) {
  for (DeviceRequest device : Devices()) {
    EngineOptions o;
    o.device = device;
    auto e = MakeEngine("def forward(self, x):\n    return x * 4.0\n", o);
    HostArray x = Array<float>(DType::kFloat32, {2, 1}, {1, 2});
    Calibration c = e->Adopt("frozen", {View(x)});
    EXPECT_EQ(c.chosen, "frozen");
    EXPECT_EQ(c.rows_per_second, 0);
    EXPECT_EQ(Values<float>(e->Run({View(x)})[0]), (std::vector<float>{4, 8}));
    if (device == DeviceRequest::kCuda) {
      EXPECT_EQ(e->Adopt("cudagraph(frozen)", {View(x)}).chosen, "cudagraph(frozen)");
      EXPECT_EQ(Values<float>(e->Run({View(x)})[0]), (std::vector<float>{4, 8}));
    } else {
      EXPECT_THROW(e->Adopt("cudagraph(frozen)", {View(x)}), DeviceError);
    }
    EXPECT_THROW(e->Adopt("warp-drive", {View(x)}), ModelError);
    EXPECT_THROW(e->Adopt("aoti", {View(x)}), ModelError);  // no package given
  }
}

TEST(Engine, PathsThatDisagreeWithEagerAreRejected) {
  // Random output: no run agrees with the reference run, eager's own included,
  // so auto keeps the model as loaded.
  EngineOptions o;
  auto e = MakeEngine("def forward(self, x):\n    return x + torch.rand_like(x)\n", o);
  HostArray x = Array<float>(DType::kFloat32, {64, 1}, std::vector<float>(64, 0.0f));
  Calibration c = e->Calibrate({View(x)}, 5.0);
  EXPECT_EQ(c.chosen, "eager");
  for (const auto& p : c.paths) EXPECT_NE(p.rejected.find("differs from eager"), std::string::npos) << p.rejected;
  o.path = PathRequest::kFrozen;
  auto forced = MakeEngine("def forward(self, x):\n    return x + torch.rand_like(x)\n", o);
  EXPECT_THROW(forced->Calibrate({View(x)}, 5.0), ModelError);
}

// A path that lost to the time budget is marked as rejected for now (the
// calibration cache does not keep such a measurement); one that computes
// something else is not.
TEST(Engine, PathsRejectedForTimeAreMarkedForNow) {
  EngineOptions o;
  auto e = MakeEngine("def forward(self, x):\n    return x * 3.0\n", o);
  HostArray x = Array<float>(DType::kFloat32, {2, 1}, {1, 2});
  Calibration c = e->Calibrate({View(x)}, 1e-9);
  ASSERT_FALSE(c.paths.empty());
  for (const auto& p : c.paths) {
    EXPECT_EQ(p.rejected, "calibration_seconds ran out before this path") << p.path;
    EXPECT_TRUE(p.for_now) << p.path;
  }
  EXPECT_EQ(Values<float>(e->Run({View(x)})[0]), (std::vector<float>{3, 6}));
  auto random = MakeEngine("def forward(self, x):\n    return x + torch.rand_like(x)\n", o);
  for (const auto& p : random->Calibrate({View(x)}, 5.0).paths) EXPECT_FALSE(p.for_now) << p.path;
}

TEST(Engine, CudaGraphPath) {
  EngineOptions o;
  o.path = PathRequest::kCudaGraph;
  if (!torch::cuda::is_available()) {
    auto e = MakeEngine("def forward(self, x):\n    return x\n", o);
    HostArray x = Array<float>(DType::kFloat32, {1, 1}, {1});
    EXPECT_THROW(e->Calibrate({View(x)}, 5.0), DeviceError);
    return;
  }
  o.device = DeviceRequest::kCuda;
  auto e = MakeEngine("def forward(self, x):\n    return x * 3.0\n", o);
  HostArray four = Array<float>(DType::kFloat32, {4, 1}, {1, 2, 3, 4});
  Calibration c = e->Calibrate({View(four)}, 5.0);
  EXPECT_EQ(c.chosen.rfind("cudagraph(", 0), 0u) << c.Summary();
  // Replays for the captured shape, with new values each time; other shapes run eagerly.
  for (float base : {0.0f, 10.0f, 20.0f}) {
    HostArray x = Array<float>(DType::kFloat32, {4, 1}, {base, base + 1, base + 2, base + 3});
    EXPECT_EQ(Values<float>(e->Run({View(x)})[0]),
              (std::vector<float>{3 * base, 3 * base + 3, 3 * base + 6, 3 * base + 9}));
  }
  HostArray two = Array<float>(DType::kFloat32, {2, 1}, {5, 6});
  EXPECT_EQ(Values<float>(e->Run({View(two)})[0]), (std::vector<float>{15, 18}));
}

// A model that asks the host for a value mid-step cannot be captured: the
// preflight rejects it before any capture starts, and the engine goes on
// working (the allocator is left as it was).
TEST(Engine, CudaGraphRejectsAModelThatSynchronises) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA here";
  const char* body = "def forward(self, x):\n    if bool(x.sum() > 0.0):\n        return x * 2.0\n    return x\n";
  EngineOptions o;
  o.device = DeviceRequest::kCuda;
  HostArray x = Array<float>(DType::kFloat32, {4, 1}, {1, 2, 3, 4});
  o.path = PathRequest::kCudaGraph;
  try {
    MakeEngine(body, o)->Calibrate({View(x)}, 5.0);
    FAIL() << "capture should have been refused";
  } catch (const ModelError& e) {
    // libtorch's own words, from the preflight's sync debug mode.
    EXPECT_NE(std::string(e.what()).find("synchronizing CUDA operation"), std::string::npos) << e.what();
  }
  o.path = PathRequest::kAuto;
  auto e = MakeEngine(body, o);
  Calibration c = e->Calibrate({View(x)}, 5.0);
  EXPECT_EQ(c.chosen.find("cudagraph"), std::string::npos) << c.Summary();
  EXPECT_NE(c.Summary().find("synchronizing CUDA operation"), std::string::npos) << c.Summary();
  for (int i = 0; i < 200; ++i) ASSERT_EQ(Values<float>(e->Run({View(x)})[0]), (std::vector<float>{2, 4, 6, 8}));
}

}  // namespace mpsbatch
