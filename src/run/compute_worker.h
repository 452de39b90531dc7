// A rank's compute thread: takes chunks of input rows, runs them through the
// engine batch by batch, and hands back the chunk's outputs. The rank's main
// thread does all I/O and MPI meanwhile, so reading, computing and sending
// overlap. Queues are bounded: Submit blocks when `depth` chunks wait.
#pragma once

#include <atomic>
#include <exception>
#include <thread>

#include "common/bounded_queue.h"
#include "infer/engine.h"
#include "plan/chunk_plan.h"
#include "plan/job_plan.h"

namespace mpsbatch {

struct WorkItem {
  Chunk chunk;
  std::vector<HostArray> inputs;  // one per plan input, chunk.rows() rows each
};

// Non-finite values (NaN, +Inf, -Inf) found in floating outputs.
struct NonFinite {
  int64_t values = 0;
  int64_t first_row = -1;  // lowest input row with one; -1 when none

  void Add(const NonFinite& other);
};

struct ResultItem {
  Chunk chunk;
  std::vector<HostArray> outputs;  // one per plan output; empty if `error`
  NonFinite nonfinite;
  std::exception_ptr error;  // what the compute thread threw
};

struct ComputeSettings {
  int64_t batch_size = 1;
  bool fail_on_nonfinite = false;  // a NaN or Inf in an output is a ModelError
};

// Runs one chunk through `engine` in batches of `batch_size`, checking every
// batch's outputs against the plan and counting non-finite values into
// `*nonfinite`. Throws ModelError on a mismatch, or on the first non-finite
// value when `fail_on_nonfinite` is set.
std::vector<HostArray> ComputeChunk(Engine& engine, const JobPlan& plan, const ComputeSettings& settings,
                                    const WorkItem& item, NonFinite* nonfinite);

class ComputeWorker {
 public:
  ComputeWorker(Engine& engine, const JobPlan& plan, ComputeSettings settings, size_t depth);
  ~ComputeWorker();  // stops taking work and joins the thread

  void Submit(WorkItem item);
  ResultItem Next();  // blocks
  std::optional<ResultItem> NextFor(std::chrono::microseconds timeout);

  // Seconds the thread spent inside ComputeChunk so far.
  double compute_seconds() const { return compute_ns_.load() * 1e-9; }

 private:
  void Loop();

  Engine& engine_;
  const JobPlan& plan_;
  const ComputeSettings settings_;
  BoundedQueue<WorkItem> todo_;
  BoundedQueue<ResultItem> done_;
  std::atomic<int64_t> compute_ns_{0};
  std::thread thread_;
};

}  // namespace mpsbatch
