#include "plan/gpu_sharing.h"

#include <gtest/gtest.h>

namespace mpsbatch {

namespace {

// `n` ranks of host `host` on the GPU `gpu`.
void Add(std::vector<RankGpu>& ranks, int n, const std::string& host, const std::string& gpu, bool daemon) {
  for (int i = 0; i < n; ++i) ranks.push_back({host, gpu, daemon});
}

bool Has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST(FindSharedGpus, GroupsRanksByHostAndGpuUuid) {
  std::vector<RankGpu> ranks;
  Add(ranks, 2, "a", "GPU-1", false);      // ranks 0, 1
  Add(ranks, 1, "a", "GPU-2", false);      // rank 2: a GPU of its own
  Add(ranks, 2, "b", "GPU-1", false);      // ranks 3, 4: another host's GPU, even with the same UUID
  ranks.push_back({"a", "GPU-1", false});  // rank 5
  const auto shared = FindSharedGpus(ranks);
  ASSERT_EQ(shared.size(), 2u);
  EXPECT_EQ(shared[0].ranks, (std::vector<int>{0, 1, 5}));
  EXPECT_EQ(shared[1].ranks, (std::vector<int>{3, 4}));
}

TEST(FindSharedGpus, CpuAndAppleRanksNeverShare) {
  std::vector<RankGpu> ranks;
  Add(ranks, 4, "a", "", false);  // no GPU UUID: CPU, or Apple's MPS
  EXPECT_TRUE(FindSharedGpus(ranks).empty());
  EXPECT_EQ(SharingLine(FindSharedGpus(ranks)), "");
}

TEST(FindSharedGpus, TheDaemonServesAGpuOnlyIfEveryRankFoundIt) {
  std::vector<RankGpu> ranks;
  Add(ranks, 2, "a", "GPU-1", true);
  ranks.push_back({"a", "GPU-1", false});  // another pipe folder, say
  Add(ranks, 2, "a", "GPU-2", true);
  const auto shared = FindSharedGpus(ranks);
  ASSERT_EQ(shared.size(), 2u);
  EXPECT_FALSE(shared[0].mps_daemon);
  EXPECT_TRUE(shared[1].mps_daemon);
}

TEST(SharingLine, WithoutTheDaemonSaysHowManyAndTheFix) {
  std::vector<RankGpu> ranks;
  Add(ranks, 4, "a", "GPU-1", false);
  Add(ranks, 4, "a", "GPU-2", false);
  const std::string line = SharingLine(FindSharedGpus(ranks));
  EXPECT_TRUE(Has(line, "4 ranks on each of 2 GPUs without NVIDIA's MPS daemon")) << line;
  EXPECT_TRUE(Has(line, "nvidia-cuda-mps-control -d before mpirun")) << line;
  EXPECT_TRUE(Has(line, "one rank per GPU")) << line;
}

TEST(SharingLine, WithTheDaemonSaysItIsUsed) {
  std::vector<RankGpu> ranks;
  Add(ranks, 3, "a", "GPU-1", true);
  const std::string line = SharingLine(FindSharedGpus(ranks));
  EXPECT_TRUE(Has(line, "3 ranks on 1 GPU under NVIDIA's MPS daemon")) << line;
  EXPECT_FALSE(Has(line, "nvidia-cuda-mps-control -d")) << line;
}

TEST(SharingLine, NoSharedGpuNoLine) {
  std::vector<RankGpu> ranks;
  ranks.push_back({"a", "GPU-1", false});
  ranks.push_back({"a", "GPU-2", false});
  EXPECT_EQ(SharingLine(FindSharedGpus(ranks)), "");
}

TEST(ChooseComputingRanks, ShortBatchesWithoutTheDaemonLeaveOneRankPerGpu) {
  std::vector<RankGpu> ranks;
  Add(ranks, 4, "a", "GPU-1", false);  // 0-3
  Add(ranks, 4, "a", "GPU-2", false);  // 4-7
  const auto shared = FindSharedGpus(ranks);
  EXPECT_TRUE(LeadsGpuSharedWithoutDaemon(shared, 0));
  EXPECT_TRUE(LeadsGpuSharedWithoutDaemon(shared, 4));
  EXPECT_FALSE(LeadsGpuSharedWithoutDaemon(shared, 1));
  // The MLP at batch 64: 0.06 ms a batch.
  std::vector<double> seconds(8, 0);
  seconds[0] = seconds[4] = 6e-5;
  const ComputingRanks c = ChooseComputingRanks(shared, 8, seconds);
  EXPECT_EQ(c.computes, (std::vector<bool>{true, false, false, false, true, false, false, false}));
  EXPECT_TRUE(Has(c.line, "only rank(s) 0, 4 compute")) << c.line;
  EXPECT_TRUE(Has(c.line, "rank(s) 1-3, 5-7 take no chunks")) << c.line;
  EXPECT_TRUE(Has(c.line, "nvidia-cuda-mps-control -d")) << c.line;
}

TEST(ChooseComputingRanks, LongBatchesKeepEveryRank) {
  std::vector<RankGpu> ranks;
  Add(ranks, 4, "a", "GPU-1", false);
  std::vector<double> seconds(4, 0);
  seconds[0] = 0.017;  // ResNet-50 at batch 256
  const ComputingRanks c = ChooseComputingRanks(FindSharedGpus(ranks), 4, seconds);
  EXPECT_EQ(c.computes, std::vector<bool>(4, true));
  EXPECT_TRUE(Has(c.line, "every rank computes")) << c.line;
}

TEST(ChooseComputingRanks, UnmeasuredBatchesCountAsShort) {
  std::vector<RankGpu> ranks;
  Add(ranks, 2, "a", "GPU-1", false);
  const ComputingRanks c = ChooseComputingRanks(FindSharedGpus(ranks), 2, {});
  EXPECT_EQ(c.computes, (std::vector<bool>{true, false}));
}

TEST(ChooseComputingRanks, TheDaemonOrOwnGpusKeepEveryRankSilently) {
  std::vector<RankGpu> ranks;
  Add(ranks, 4, "a", "GPU-1", true);
  ranks.push_back({"a", "GPU-2", false});
  ranks.push_back({"a", "", false});
  const ComputingRanks c = ChooseComputingRanks(FindSharedGpus(ranks), 6, std::vector<double>(6, 1e-5));
  EXPECT_EQ(c.computes, std::vector<bool>(6, true));
  EXPECT_EQ(c.line, "");
}

}  // namespace mpsbatch
