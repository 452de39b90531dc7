// A rank's compute thread: takes chunks of input rows, runs them through the
// engine batch by batch, and hands back the chunk's outputs. The rank's
// reader (run/chunk_reader.h) and main thread do all I/O and MPI meanwhile, so
// reading, computing and sending overlap. Queues are bounded: Submit blocks when `depth` chunks wait.
#pragma once

#include <atomic>
#include <deque>
#include <exception>
#include <map>
#include <optional>
#include <string>
#include <thread>

#include "common/bounded_queue.h"
#include "infer/engine.h"
#include "plan/chunk_plan.h"
#include "plan/job_plan.h"
#include "run/bad_rows.h"
#include "run/row_isolation.h"
#include "run/timeline.h"

namespace mpsbatch {

struct WorkItem {
  Chunk chunk;
  std::vector<HostArray> inputs;  // one per plan input, chunk.rows() rows each
  ChunkTiming timing;             // the main thread's stamps so far
};

// Non-finite values (NaN, +Inf, -Inf) found in floating outputs.
struct NonFinite {
  int64_t values = 0;
  int64_t first_row = -1;  // lowest input row with one; -1 when none

  void Add(const NonFinite& other);
};

struct ResultItem {
  Chunk chunk;
  // One per plan output, then, with ComputeSettings::skip_failed_rows, the
  // `failed` flags (uint8, 1 per failed row); empty if `error`.
  std::vector<HostArray> outputs;
  NonFinite nonfinite;                 // in rows that did not fail
  std::exception_ptr error;            // what the compute thread threw
  std::vector<FailedRow> failed_rows;  // the first kMessagesPerChunk failed rows, with their errors
  ChunkTiming timing;                  // the WorkItem's, with the compute thread's stamps added
};

struct ComputeSettings {
  int64_t batch_size = 1;
  bool fail_on_nonfinite = false;  // a NaN or Inf in an output is a ModelError (a failed row, if skipping)
  // on_error: skip: the rows of a failing batch are isolated (IsolateRows),
  // filled (FillRow) and flagged instead of failing the chunk.
  bool skip_failed_rows = false;
};

// Picks the batch size for rows like `inputs` (one array per plan input):
// times the engine's current path on 16, 32, ... of their rows up to
// `max_rows` (and their row count, which is tried last), stopping once two sizes in a row gain under 5% or the device
// runs out of memory. Of the sizes within 3% of the fastest it returns the smallest that divides `chunk_rows` (so
// chunks hold no short tail batch that a CUDA graph would not replay), else the smallest. Describes what it timed in
// `*log`. Stays within `budget`: the first size is always timed, a larger one only if its warm-up and one timed batch
// fit in what is left at the best rate so far.
int64_t SearchBatchSize(Engine& engine, const std::vector<HostArray>& inputs, int64_t max_rows, int64_t chunk_rows,
                        const CalibrationBudget& budget, std::string* log);

// Chunks' batches through the engine, up to engine.max_in_flight() at once,
// across chunk boundaries: the next chunk's first batch starts while the last
// ones of this chunk still run, so the device does not drain between chunks
// (a chunk may hold only one or two batches). Checks every batch's outputs
// against the plan and counts non-finite values. A failure (ModelError on a
// mismatch, or on the first non-finite value when fail_on_nonfinite is set;
// what the engine throws) becomes the error of its chunk's result; the
// pipeline then takes no more work. With skip_failed_rows, a batch the engine
// fails (a ModelError not of the device) is isolated instead: the engine's
// other batches are abandoned and started again, the failed one is run row
// by row (row_isolation.h), and its outputs take its place in order.
class ChunkPipeline {
 public:
  ChunkPipeline(Engine& engine, const JobPlan& plan, const ComputeSettings& settings);
  ~ChunkPipeline();  // abandons what is in flight

  void Add(WorkItem item);
  // True if a chunk has a batch not yet started.
  bool CanStart() const;
  // True if the engine has room for another batch.
  bool HasRoom() const { return flying_.size() < engine_.max_in_flight(); }
  bool Idle() const { return flying_.empty(); }
  // Starts the next batch; returns its chunk's failure if the engine threw.
  std::optional<ResultItem> StartNext();
  // Finishes the oldest batch in flight; returns its chunk's result once all
  // of its rows are done, or the chunk's failure.
  std::optional<ResultItem> FinishOldest();

 private:
  struct Isolated {
    int64_t end = 0;  // rows [begin, end) of the chunk; begin is its key
    IsolatedBatch batch;
  };
  struct Open {
    WorkItem item;
    ResultItem result;
    int64_t started = 0;                   // rows handed to the engine
    int64_t done = 0;                      // rows back
    std::map<int64_t, Isolated> isolated;  // batches run row by row, waiting for their turn
  };
  struct Batch {
    Open* chunk;
    int64_t begin, end;     // rows within the chunk
    bool isolated = false;  // its outputs wait in chunk->isolated
  };
  ResultItem Fail(Open& chunk, std::exception_ptr error);
  // Abandons every batch in flight (to start again), then isolates rows
  // [b, e) of `chunk`, whose batch failed. Throws what cannot be a row's.
  void Isolate(Open& chunk, int64_t b, int64_t e);
  // Checks a batch's outputs (`errors`: per row, "" or why it failed; empty:
  // none failed) and puts them into the chunk's result.
  void Store(Open& chunk, int64_t b, int64_t e, std::vector<HostArray> ys, std::vector<std::string> errors);

  Engine& engine_;
  const JobPlan& plan_;
  const ComputeSettings settings_;
  std::deque<Open> open_;  // chunks with rows to start or in flight, oldest first
  std::deque<Batch> flying_;
};

class ComputeWorker {
 public:
  ComputeWorker(Engine& engine, const JobPlan& plan, ComputeSettings settings, size_t depth);
  ~ComputeWorker();  // stops taking work and joins the thread

  void Submit(WorkItem item);
  ResultItem Next();  // blocks
  std::optional<ResultItem> NextFor(std::chrono::microseconds timeout);

  // Seconds the thread spent with work to do so far.
  double compute_seconds() const { return compute_ns_.load() * 1e-9; }

 private:
  // The thread's body: Work, with anything it throws handed to the owner as
  // a failed ResultItem (never std::terminate).
  void Loop() noexcept;
  void Work();

  Engine& engine_;
  const JobPlan& plan_;
  const ComputeSettings settings_;
  BoundedQueue<WorkItem> todo_;
  BoundedQueue<ResultItem> done_;
  std::atomic<int64_t> compute_ns_{0};
  std::jthread thread_;  // last: started once the queues exist, joined before they go
};

}  // namespace mpsbatch
