// Rank 0's planning: inspect the input and the output path, read the model,
// load it, push one probe batch through it and cut the rows into chunks (and
// the other ranks' warm-up of their engines meanwhile); with
// the checks planning makes on the way (normalisation against the input's
// shape, the batches the model will be fed) and the batch-size bounds the rest
// of the job shares.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "comm/communicator.h"
#include "config/job.h"
#include "infer/engine.h"
#include "plan/job_plan.h"
#include "plan/planned_job.h"

namespace mpsbatch {

// Rank 0's planning, in two parts, so that the other ranks can load their
// engines while rank 0 loads and probes its own.
//
// PlanFiles: the input, the output path (its checks and lock, an earlier run's
// state) and the model's bytes: all the other ranks need to load the model
// (p.job, p.restart and p.dry_run set). Starts hashing the model's bytes
// (p.hashes). On a dry run takes no output lock. `inspected`, if given, is
// called once the input, the output and an earlier run's state are known,
// before the model is read (for the log's first plan line).
//
// PlanModel: rank 0's engine, one probe batch through it, the outputs, the
// resume identity and checks, the chunks.
//
// Each throws the error of whatever stands in the job's way (input, output,
// model, config).
void PlanFiles(PlannedJob& p, const std::function<void()>& inspected = {});
void PlanModel(Communicator& comm, PlannedJob& p);

// A rank other than 0, once its engine is created: runs one batch of the
// probe's size through it (the input's first rows; a rank that does not read
// the input, in scatter mode, does not warm), after the input checks rank
// 0's probe makes (Engine::CheckInputs), so that the device's kernels and
// libraries are loaded before calibration. A failure is logged (debug)
// and left for calibration, which runs the model on the job's rows, to meet
// and report.
void WarmEngine(const PlannedJob& p);

// This rank's engine for `p`'s model (p.model_bytes, and p.compiled_bytes if
// any). Throws what Engine::Create throws.
std::unique_ptr<Engine> CreateEngine(const PlannedJob& p, const Communicator& comm);

// The largest batch batch_size: auto may choose for `plan`: a batch's input and
// output stay under a fixed number of bytes, and a fixed row bound.
int64_t AutoBatchBound(const JobPlan& plan);

// Rows per batch while planning (the probe, chunk rounding).
int64_t PlanningBatch(const JobConfig& job);

// Rows in the probe batch (and in WarmEngine's).
int64_t ProbeRows(const JobConfig& job, const JobPlan& plan);

// The probe batch: the first ProbeRows rows of each input (p.input), after
// the engine's checks of what it is fed (Engine::CheckInputs on p.engine).
std::vector<HostArray> CheckedProbeBatch(const PlannedJob& p);

// input.mean, input.std and input.layout against the datasets they apply to.
// Throws ConfigError on a mismatch.
void CheckNormalisation(const JobConfig& job, const JobPlan& plan);

// The batches the job will feed the model (see BatchSizes): a fixed
// batch_size cuts every chunk into full batches, but for the last, when the
// chunks are multiples of it (the automatic chunk_size is).
BatchSizes FedBatches(const JobConfig& job, const JobPlan& plan);

}  // namespace mpsbatch
