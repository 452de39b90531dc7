// The torch engine (infer/torch_engine.h): what goes wrong in forward() reaches
// the caller as a ModelError.
#include <gtest/gtest.h>

#include "common/error.h"
#include "infer/torch_test_util.h"

namespace mpsbatch {

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

}  // namespace mpsbatch
