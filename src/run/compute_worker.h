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

struct ResultItem {
  Chunk chunk;
  std::vector<HostArray> outputs;  // one per plan output; empty if `error`
  std::exception_ptr error;        // what the compute thread threw
};

// Runs one chunk through `engine` in batches of `batch_size`, checking every
// batch's outputs against the plan. Throws ModelError on a mismatch.
std::vector<HostArray> ComputeChunk(Engine& engine, const JobPlan& plan, int64_t batch_size, const WorkItem& item);

class ComputeWorker {
 public:
  ComputeWorker(Engine& engine, const JobPlan& plan, int64_t batch_size, size_t depth);
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
  const int64_t batch_size_;
  BoundedQueue<WorkItem> todo_;
  BoundedQueue<ResultItem> done_;
  std::atomic<int64_t> compute_ns_{0};
  std::thread thread_;
};

}  // namespace mpsbatch
