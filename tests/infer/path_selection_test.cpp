// Path selection (infer/path_selection.cpp): each path built, checked against
// eager, timed, and the fastest kept; forced, adopted and rejected paths.
#include <gtest/gtest.h>

#include "common/error.h"
#include "infer/torch_test_util.h"

namespace mpsbatch {

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
    EXPECT_EQ(p.rejected, "calibration's time ran out before this path (calibration_seconds, or its share of the job)")
        << p.path;
    EXPECT_TRUE(p.for_now) << p.path;
  }
  EXPECT_EQ(Values<float>(e->Run({View(x)})[0]), (std::vector<float>{3, 6}));
  auto random = MakeEngine("def forward(self, x):\n    return x + torch.rand_like(x)\n", o);
  for (const auto& p : random->Calibrate({View(x)}, 5.0).paths) EXPECT_FALSE(p.for_now) << p.path;
}

// A slow model's short job paid for timing every path. A path's check,
// warm-up and one timed batch take 3 batches, and 10% of a job of 4 batches
// is less than one, so none is timed (the rate is eager's first run, on the
// reference batch); a long job times them.
TEST(Engine, CalibrationStaysWithinItsShareOfTheJob) {
  auto e = MakeEngine("def forward(self, x):\n    return x * 3.0\n", {});
  HostArray x = Array<float>(DType::kFloat32, {2, 1}, {1, 2});
  CalibrationBudget budget(30);
  budget.floor_seconds = 0;
  budget.job_rows = 4 * 2;
  Calibration c = e->Calibrate({View(x)}, budget);
  EXPECT_FALSE(c.timed) << c.Summary();
  for (const auto& p : c.paths) EXPECT_TRUE(p.for_now) << p.path << ": " << p.rejected;
  EXPECT_EQ(c.chosen, "eager");
  budget.job_rows = 1e9;
  EXPECT_TRUE(e->Calibrate({View(x)}, budget).timed);
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
