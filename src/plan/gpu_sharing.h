// Several ranks on one GPU. Without NVIDIA's MPS daemon, processes that share
// a GPU take turns on it (time-slicing between their contexts): a rank's
// batch waits while another's runs, and each switch costs more than a small
// batch's kernels take, so 4 ranks at the MLP's 64-row batches ran at 0.31x
// one rank's rate. With the daemon (or large batches) they overlap.
//
// This unit finds the ranks that share a physical GPU (same host, same GPU
// UUID), says so in the plan, and decides which of them compute: without the
// daemon and with batches shorter than kShortBatchSeconds on the device, only
// the lowest rank of each shared GPU computes, and the others take no chunk,
// so more ranks are never slower than one. Which rank computes a chunk never
// changes its batches, so the output's bits are those of any other rank
// count. Pure functions: the facts come from GatherDevices and calibration.
#pragma once

#include <string>
#include <vector>

namespace mpsbatch {

// A batch that takes less than this on its GPU is short: ranks that share the
// GPU without the MPS daemon lose more to switching than they gain. (The MLP's
// 64-row batches took 0.06 ms, and 4 ranks ran at 0.31x one rank; its
// 8192-row batches took 1.7 ms, and 4 ranks ran at 2x one rank.)
inline constexpr double kShortBatchSeconds = 1e-3;

// What one rank uses, as GatherDevices gathered it.
struct RankGpu {
  std::string host;
  std::string gpu;  // the GPU's UUID; "" off CUDA (CPU, Apple's MPS): never shared here
  bool mps_daemon = false;
};

// A GPU used by more than one rank.
struct SharedGpu {
  std::vector<int> ranks;   // ascending; ranks.front() leads its calibration
  bool mps_daemon = false;  // every one of its ranks found the daemon
};

// The GPUs that more than one rank uses, in order of their lowest rank.
std::vector<SharedGpu> FindSharedGpus(const std::vector<RankGpu>& ranks);

// True if `rank` leads a GPU shared without the daemon: its calibration must
// time the chosen path (ChooseComputingRanks needs the batch's time).
bool LeadsGpuSharedWithoutDaemon(const std::vector<SharedGpu>& shared, int rank);

// The plan's line about shared GPUs ("" when no GPU is shared): how many ranks
// per GPU, whether the daemon serves them, and without it the fix.
std::string SharingLine(const std::vector<SharedGpu>& shared);

// Which ranks compute, of `ranks`. `batch_seconds[r]`: for a rank that led
// its GPU's calibration, the seconds one batch took there (0: not measured,
// counted as short). Every rank computes except the followers on a GPU shared
// without the daemon whose batches are short.
struct ComputingRanks {
  std::vector<bool> computes;  // per rank
  std::string line;            // what was decided and why; "" when every rank computes by default
};
ComputingRanks ChooseComputingRanks(const std::vector<SharedGpu>& shared, int ranks,
                                    const std::vector<double>& batch_seconds);

}  // namespace mpsbatch
