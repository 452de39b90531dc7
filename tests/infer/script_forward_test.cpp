// TorchScript models (infer/script_forward.h): loading, and the forms of output
// that forward() may return.
#include <gtest/gtest.h>

#include "common/error.h"
#include "infer/torch_test_util.h"

namespace mpsbatch {

TEST(Engine, ListOutputsAreOutputs) {
  auto e = MakeEngine("def forward(self, x):\n    return [x, x * 2.0, x * 3.0]\n");
  HostArray x = Array<float>(DType::kFloat32, {1, 1}, {1});
  auto out = e->Run({View(x)});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(Values<float>(out[2]), (std::vector<float>{3}));
}

TEST(Engine, LoadErrors) {
  EngineOptions o;
  o.device = DeviceRequest::kCpu;
  EXPECT_THROW(Engine::Create({"/no/such/model.pt", nullptr, ""}, o), ModelError);
  EXPECT_THROW(Engine::Create({"junk.pt", std::make_shared<const std::string>("junk"), ""}, o), ModelError);
}

}  // namespace mpsbatch
