// The job's small exchanges between ranks, each one step of RunJob: rank 0's
// text to every rank (the job, the plan), the depth every rank holds to, and
// what rank 0 gathers to report (device names, core binding, every rank's
// totals and process). Collective: every rank calls each, in the same order.
// Throw CommError.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "comm/communicator.h"

namespace mpsbatch {

// Rank 0's `text`, on every rank.
void ShareFromRankZero(Communicator& comm, std::string& text);

// The largest of every rank's `depth` (chunks in flight), on every rank.
size_t AgreeDepth(Communicator& comm, size_t depth);

// What a rank says of its device.
struct DeviceFacts {
  std::string name;                // "cuda:1", "cpu", "mps"
  std::string gpu;                 // the GPU's UUID (Engine::device_uuid); "" off CUDA
  bool mps_daemon = false;         // NVIDIA's MPS daemon serves this rank (common/mps_daemon.h)
  bool bound_to_one_core = false;  // on a host with more
};

// Every rank's device, on every rank (each rank then finds the ranks that
// share its GPU; rank 0 logs the names and the binding).
struct GatheredDevices {
  std::vector<std::string> names;  // per rank
  std::string bound_to_one;        // "1, 3": ranks the launcher bound to one core of a host with more
  std::vector<std::string> hosts;  // per rank, Communicator::host
  std::vector<std::string> gpus;   // per rank, DeviceFacts::gpu
  std::vector<bool> mps_daemon;    // per rank, DeviceFacts::mps_daemon
};
GatheredDevices GatherDevices(Communicator& comm, const DeviceFacts& mine);

// One rank's share of the work, once scored.
struct RankTotals {
  double rows = 0;
  double compute_seconds = 0;
  std::string path;                 // CalibrationLine of the rank
  int64_t nonfinite_values = 0;     // NaN and Inf in its outputs
  int64_t first_nonfinite_row = 0;  // the lowest row with one (the job's rows when none)
};

// The job's totals: per rank on rank 0, the non-finite counts on every rank.
struct JobTotals {
  std::vector<double> rows, compute_seconds;  // rank 0: per rank
  std::vector<std::string> paths;             // rank 0: per rank
  int64_t nonfinite_values = 0;               // summed over the ranks
  int64_t first_nonfinite_row = 0;            // the least over the ranks
  std::vector<std::string> processes;         // rank 0: every rank's "host pid" (comm/outlive.h)
};
JobTotals GatherTotals(Communicator& comm, const RankTotals& mine);

}  // namespace mpsbatch
