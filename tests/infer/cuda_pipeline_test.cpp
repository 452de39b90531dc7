// The batches in flight (infer/cuda_pipeline.h): on CUDA up to two, copied
// straight from page-locked chunks; on every device returned in order.
#include <gtest/gtest.h>

#include "common/error.h"
#include "infer/torch_test_util.h"

namespace mpsbatch {

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

}  // namespace mpsbatch
