// One rank's share of the job, after planning. Rank 0 hands out chunks (on
// demand or in fixed runs, by `schedule`): in shared mode a chunk id that the
// rank reads itself, in scatter mode the rows. Every rank feeds its chunks to
// its compute thread and sends the results to rank 0, which writes them,
// tracking that each chunk is written exactly once. At most `depth` chunks per
// rank are in flight, which bounds memory; a rank gets its next chunk when a
// result comes back, so faster ranks get more under the dynamic schedule.
// Chunks go out one per rank in turn, so that a job of fewer chunks than
// ranks times `depth` spreads them over the ranks rather than filling the
// first ranks' depth.
// The chunk messages (tags 101-103, through Communicator) are sent and
// received here rather than in comm/ with the job's other protocols: they are
// the loop's hot path, interleaved turn by turn with its credit, dispenser and
// stall watch.
#pragma once

#include "comm/communicator.h"
#include "infer/engine.h"
#include "plan/chunk_plan.h"
#include "plan/job_plan.h"
#include "read/input_set.h"
#include "run/bad_rows.h"
#include "run/compute_worker.h"
#include "run/stall_watch.h"
#include "run/timeline.h"
#include "write/result_writer.h"

namespace mpsbatch {

struct RankStats {
  int64_t rows = 0;
  int64_t chunks = 0;
  double compute_seconds = 0;
  NonFinite nonfinite;  // in this rank's outputs
  FailedRows failed;    // rank 0: the job's failed rows (on_error: skip)
};

struct RankLoopContext {
  Communicator& comm;
  Engine& engine;
  const JobPlan& plan;
  const ChunkPlan& chunks;
  ComputeSettings compute;
  InputSet* input = nullptr;    // where this rank reads; null for scatter receivers
  ChunkSink* writer = nullptr;  // rank 0 only: one output file, or one per input file
  size_t depth = 2;
  Schedule schedule = Schedule::kDynamic;
  std::vector<bool> done;                // rank 0: chunks an earlier run wrote (resume); empty: none
  StallTimeout stall_timeout;            // rank 0: how long a rank may hold a chunk (run/stall_watch.h)
  double progress_interval = 0;          // rank 0: seconds between progress lines (run/progress.h); 0: none
  bool live_progress = false;            // rank 0: a status line every progress_interval instead of log lines
  FailedRowsLimit max_failed_rows = {};  // rank 0, with compute.skip_failed_rows: past it the job fails
  RankTimeline* timeline = nullptr;      // where this rank records its chunks (run/timeline.h); null: nowhere
  std::vector<bool> computes = {};       // rank 0: per rank, whether it gets chunks (plan/gpu_sharing.h); empty: all
};

// Collective over all ranks. Returns once this rank's part is done (rank 0:
// once every row is written). Throws on any failure; since other ranks may be
// blocked on this one, the caller must then abort the job. Rank 0 throws
// StallError for a rank past stall_timeout and StopRequested for a stop
// signal (common/stop_signal.h). After a throw the compute thread and the
// reader (run/chunk_reader.h) are left running, not joined: one may be stuck
// in the model or in a read for good.
RankStats RunRankLoop(const RankLoopContext& ctx);

}  // namespace mpsbatch
