// Everything a rank holds about the job once it is planned: the job, the plan,
// the model's bytes, the input and the engine, and on rank 0 what planning
// learnt besides (the resume identity, the input's stamp, an earlier run's
// partial output, the output's lock). Rank 0 fills it in PlanFiles and
// PlanModel (plan/plan_job.h); RunJob then completes it on every rank.
#pragma once

#include <future>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/job.h"
#include "infer/engine.h"
#include "plan/job_plan.h"
#include "plan/shard_outputs.h"
#include "read/input_set.h"
#include "read/input_sources.h"
#include "write/output_lock.h"
#include "write/result_writer.h"

namespace mpsbatch {

struct PlannedJob {
  JobConfig job;
  JobPlan plan;
  std::shared_ptr<const std::string> model_bytes;
  std::shared_ptr<const std::string> compiled_bytes;  // model.compiled, if any
  std::string model_identity, compiled_identity;      // FileIdentity of the file the bytes came from ("" none)
  std::unique_ptr<InputSet> input;                    // null on a rank that receives its rows (scatter)
  DevicePrewarm* prewarm = nullptr;  // the device's prewarm, started by RunJob, which outlives the engine
  std::unique_ptr<Engine> engine;
  double engine_seconds = 0;  // rank 0: creating its engine (device, model load)
  double probe_seconds = 0;   // rank 0: reading and running the probe batch
  double inputs_seconds = 0;  // rank 0: checking the input files (InputSet::Inspect)
  // rank 0: the SHA-256 of model_bytes and of compiled_bytes ("" none), computed on a thread of their own
  std::shared_future<std::pair<std::string, std::string>> hashes;
  std::string identity;                     // rank 0: ResumeIdentity of this run
  std::optional<PartialState> resume;       // rank 0: what an earlier run left, if resuming
  bool restart = false;                     // --restart: discard what an earlier run left
  bool dry_run = false;                     // --dry-run: check, write nothing
  std::unique_ptr<OutputLock> output_lock;  // rank 0: held from planning to the end
  std::vector<ShardOutput> shard_outputs;   // rank 0, output.per_input: one per input file, in order
};

}  // namespace mpsbatch
