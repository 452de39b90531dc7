#include "plan/gpu_sharing.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <utility>

namespace mpsbatch {

namespace {

// "1-3, 6" from ascending ranks.
std::string RankList(const std::vector<int>& ranks) {
  std::string s;
  for (size_t i = 0; i < ranks.size();) {
    size_t j = i;
    while (j + 1 < ranks.size() && ranks[j + 1] == ranks[j] + 1) ++j;
    s += (s.empty() ? "" : ", ") + std::to_string(ranks[i]);
    if (j > i) s += (j == i + 1 ? ", " : "-") + std::to_string(ranks[j]);
    i = j + 1;
  }
  return s;
}

// "4 ranks on each of 2 GPUs", "2-3 ranks on each of 3 GPUs", "4 ranks on 1 GPU".
std::string Counted(const std::vector<const SharedGpu*>& gpus) {
  size_t least = gpus.front()->ranks.size(), most = least;
  for (const SharedGpu* g : gpus) {
    least = std::min(least, g->ranks.size());
    most = std::max(most, g->ranks.size());
  }
  const std::string per = least == most ? std::to_string(most) : std::to_string(least) + "-" + std::to_string(most);
  return per + " ranks on " + (gpus.size() == 1 ? "1 GPU" : "each of " + std::to_string(gpus.size()) + " GPUs");
}

std::string Milliseconds(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2g ms", seconds * 1e3);
  return buf;
}

}  // namespace

std::vector<SharedGpu> FindSharedGpus(const std::vector<RankGpu>& ranks) {
  std::map<std::pair<std::string, std::string>, SharedGpu> by_gpu;
  for (size_t r = 0; r < ranks.size(); ++r) {
    if (ranks[r].gpu.empty()) continue;
    auto [it, fresh] = by_gpu.try_emplace({ranks[r].host, ranks[r].gpu});
    it->second.mps_daemon = (fresh || it->second.mps_daemon) && ranks[r].mps_daemon;
    it->second.ranks.push_back(static_cast<int>(r));
  }
  std::vector<SharedGpu> shared;
  for (auto& [key, gpu] : by_gpu)
    if (gpu.ranks.size() > 1) shared.push_back(std::move(gpu));
  std::sort(shared.begin(), shared.end(),
            [](const SharedGpu& a, const SharedGpu& b) { return a.ranks.front() < b.ranks.front(); });
  return shared;
}

bool LeadsGpuSharedWithoutDaemon(const std::vector<SharedGpu>& shared, int rank) {
  return std::any_of(shared.begin(), shared.end(),
                     [&](const SharedGpu& g) { return !g.mps_daemon && g.ranks.front() == rank; });
}

std::string SharingLine(const std::vector<SharedGpu>& shared) {
  std::vector<const SharedGpu*> with, without;
  for (const auto& g : shared) (g.mps_daemon ? with : without).push_back(&g);
  std::string s;
  if (!with.empty()) s = Counted(with) + " under NVIDIA's MPS daemon, side by side";
  if (!without.empty())
    s += (s.empty() ? "" : "; ") + Counted(without) +
         " without NVIDIA's MPS daemon: they take turns on the GPU, which makes small batches slower than one rank, "
         "so only one rank per GPU computes when a batch takes under " +
         Milliseconds(kShortBatchSeconds) +
         " (decided after calibration); start nvidia-cuda-mps-control -d before mpirun (docs/gpu.md), or run one "
         "rank per GPU";
  return s.empty() ? "" : "GPUs: " + s;
}

ComputingRanks ChooseComputingRanks(const std::vector<SharedGpu>& shared, int ranks,
                                    const std::vector<double>& batch_seconds) {
  ComputingRanks c;
  c.computes.assign(static_cast<size_t>(ranks), true);
  std::vector<int> leading, idle;
  std::string all_compute;
  for (const auto& g : shared) {
    if (g.mps_daemon) continue;
    const auto leader = static_cast<size_t>(g.ranks.front());
    const double seconds = leader < batch_seconds.size() ? batch_seconds[leader] : 0;
    const std::string took = seconds > 0 ? Milliseconds(seconds) : "an unmeasured time";
    if (seconds >= kShortBatchSeconds) {
      all_compute +=
          (all_compute.empty() ? "" : "; ") + std::string("ranks ") + RankList(g.ranks) + " (a batch " + took + ")";
      continue;
    }
    leading.push_back(g.ranks.front());
    for (size_t i = 1; i < g.ranks.size(); ++i) {
      c.computes[static_cast<size_t>(g.ranks[i])] = false;
      idle.push_back(g.ranks[i]);
    }
  }
  std::sort(idle.begin(), idle.end());
  if (!idle.empty())
    c.line = "GPUs: batches under " + Milliseconds(kShortBatchSeconds) +
             " on a GPU shared without NVIDIA's MPS daemon: only rank(s) " + RankList(leading) +
             " compute there; rank(s) " + RankList(idle) +
             " take no chunks (taking turns on the GPU, they would make the job slower than one rank). Start "
             "nvidia-cuda-mps-control -d before mpirun to use every rank";
  if (!all_compute.empty())
    c.line += (c.line.empty() ? "GPUs: " : "; ") +
              std::string("long batches, every rank computes on its shared GPU: ") + all_compute;
  return c;
}

}  // namespace mpsbatch
