// Device choice (infer/torch_device.h): an asked-for device that is missing is
// an error, auto takes what the host has.
#include <gtest/gtest.h>

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

}  // namespace mpsbatch
