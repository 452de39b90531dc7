// Device choice (infer/torch_device.h): an asked-for device that is missing is
// an error, auto takes what the host has.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <thread>

#include "common/error.h"
#include "infer/torch_test_util.h"

namespace mpsbatch {

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

// The rank loop runs batches on its compute thread, not the thread that made
// the engine. OpenMP gives such a thread the host's cores, and libtorch's
// kernels that ask OpenMP directly (oneDNN's convolutions) used them all
// there, while calibration, on the main thread, ran at `threads`.
TEST(Engine, BatchesOnAnotherThreadUseTheJobsThreads) {
  if (std::thread::hardware_concurrency() < 2) GTEST_SKIP() << "one core: every count is the job's";
  using MaxThreads = int (*)();
  const auto omp_max_threads = reinterpret_cast<MaxThreads>(dlsym(RTLD_DEFAULT, "omp_get_max_threads"));
  if (!omp_max_threads) GTEST_SKIP() << "this libtorch has no OpenMP";
  EngineOptions o;
  o.threads = 1;
  // A small identity model: nothing in it asks libtorch for its thread count.
  auto e = MakeEngine("def forward(self, x):\n    return x\n", o);
  const HostArray x = Array<float>(DType::kFloat32, {2, 2}, {1, 2, 3, 4});
  int seen = 0;
  std::thread([&] {
    e->Run({View(x)});
    seen = omp_max_threads();
  }).join();
  EXPECT_EQ(seen, 1);
}

}  // namespace mpsbatch
