// One rank's share of the job, after planning: feed chunks to the compute
// thread (reading them from the input, or receiving them from rank 0 in
// scatter mode), and send the results to rank 0. Rank 0 additionally reads and
// sends the other ranks' chunks in scatter mode, receives every rank's
// results and writes them, tracking that each chunk is written exactly once.
// At most `depth` chunks per rank are in flight, which bounds memory.
#pragma once

#include "comm/communicator.h"
#include "infer/engine.h"
#include "plan/chunk_plan.h"
#include "plan/job_plan.h"
#include "read/input_file.h"
#include "write/result_writer.h"

namespace mpsbatch {

struct RankStats {
  int64_t rows = 0;
  int64_t chunks = 0;
  double compute_seconds = 0;
};

struct RankLoopContext {
  Communicator& comm;
  Engine& engine;
  const JobPlan& plan;
  const ChunkPlan& chunks;
  int64_t batch_size = 1;
  InputFile* input = nullptr;      // where this rank reads; null for scatter receivers
  ResultWriter* writer = nullptr;  // rank 0 only
  size_t depth = 2;
};

// Collective over all ranks. Returns once this rank's part is done (rank 0:
// once every row is written). Throws on any failure; since other ranks may be
// blocked on this one, the caller must then abort the job.
RankStats RunRankLoop(const RankLoopContext& ctx);

}  // namespace mpsbatch
