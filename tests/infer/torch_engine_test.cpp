// The torch engine (infer/torch_engine.h): what goes wrong in forward() reaches
// the caller as a ModelError.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <thread>

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

// libtorch's intra-op thread count is OpenMP's setting of the thread that
// set it: a thread made later (the rank loop's compute thread) runs oneDNN's
// and MKL's parallel regions at OpenMP's default, the host's cores, unless
// UseOnThisThread gives it the engine's. (at::get_num_threads would set it
// there itself: ask OpenMP.)
TEST(Engine, AnotherThreadRunsAtTheEnginesThreadsOnlyAfterUseOnThisThread) {
  using MaxThreads = int (*)();
  const auto omp_max_threads = reinterpret_cast<MaxThreads>(dlsym(RTLD_DEFAULT, "omp_get_max_threads"));
  if (!omp_max_threads) GTEST_SKIP() << "this libtorch has no OpenMP";
  const int threads = static_cast<int>(std::thread::hardware_concurrency()) + 1;  // never the default
  EngineOptions o;
  o.threads = threads;
  auto e = MakeEngine("def forward(self, x):\n    return x\n", o);
  EXPECT_EQ(omp_max_threads(), threads);
  int plain = 0, prepared = 0;
  std::thread([&] {
    plain = omp_max_threads();
    e->UseOnThisThread();
    prepared = omp_max_threads();
  }).join();
  EXPECT_NE(plain, threads) << "a new thread already has the engine's threads: UseOnThisThread is not needed";
  EXPECT_EQ(prepared, threads);
}

}  // namespace mpsbatch
