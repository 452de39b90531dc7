// Adaptive path selection across the job: one rank per device measures, the
// others on that device take its choice.
//
// Ranks sharing a GPU would otherwise calibrate at the same time, each timing
// its paths while the others load the device, and each paying for every
// path's build, which takes several times longer than one rank measuring
// (docs/performance.md). Here the lowest rank of each device
// group (same host, same device) searches the batch size (batch_size: auto)
// and times the paths on a batch of real rows that rank 0 reads and sends to
// all; then every rank builds its group's choice, checked against eager. A
// leader that finds its measurement in the calibration cache (a file on its
// host, calibration_cache.h) builds that choice instead of measuring. The
// messages between ranks are comm/calibration_exchange.h's.
#pragma once

#include <string>
#include <vector>

#include "comm/communicator.h"
#include "config/job.h"
#include "infer/engine.h"
#include "plan/job_plan.h"
#include "read/input_set.h"
#include "run/compute_worker.h"

namespace mpsbatch {

// What one device's calibration chose.
struct CalibrationReport {
  int64_t batch_size = 0;
  std::string batch_search;  // "64: 1.2M rows/s, 128: ..." ("" without batch_size: auto)
  Calibration paths;
  std::string cache;  // "from the cache FILE (measured: ...)", "stored in FILE", why not; "" when off
  // One batch's time on the device through the chosen path, as measured; 0
  // when nothing was timed (a forced path, a cached choice), unless the
  // caller asked for it (time_batch).
  double batch_seconds = 0;
};

struct RankCalibration {
  CalibrationReport report;  // as the rank's device group measured it
  int leader = 0;            // the rank that measured
  // Per rank: for a leader, its report's batch_seconds; 0 for the others.
  std::vector<double> batch_seconds;
};

// Collective. `input` is rank 0's. `batch_bound` is the largest batch_size:
// auto may choose; `threads` the engine's intra-op threads (part of the cache
// key). With `time_batch`, a leader that timed nothing times its choice
// briefly, for batch_seconds (plan/gpu_sharing.h needs it). Ranks group by
// host, device name and GPU (Engine::device_uuid). Throws what the engine
// throws (a forced path that cannot run); call it inside a Phase.
RankCalibration CalibrateRanks(Communicator& comm, Engine& engine, const JobConfig& job, const JobPlan& plan,
                               InputSet* input, int64_t batch_bound, int threads, bool time_batch = false);

// "batch 256, path frozen 18975 rows/s (...)", or for a rank that took its
// group's choice, "batch 256, path frozen, as rank 0 measured".
std::string CalibrationLine(const RankCalibration& c, int rank);

}  // namespace mpsbatch
