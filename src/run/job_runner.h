// A whole job on every rank, in phases: read the job (rank 0), plan it (rank 0:
// input metadata, model, probe batch), hand the plan and the model to every
// rank, choose shared or scatter input, load every rank's engine, run the rank
// loops, then commit the output file (rank 0). RunJob holds only the order
// of the steps; their work is elsewhere: planning in plan/plan_job.h, the
// exchanges between ranks in comm/, calibration in run/calibrate.h, the rank
// loops in run/rank_loop.h, rank 0's output in run/output_file.h, and what the
// user is told in run/report.h.
//
// Failure policy: every step is one of kCollectiveSteps, taken through Agree
// or Collective (comm/collective_step.h). A failure in an agreed step is
// reported once (naming the first failing rank and the step) and turned into
// JobFailed on every rank, so all exit with the same code. A failure in any
// other step, or outside a step, is reported by the failing rank, which then
// aborts the whole job (the others may be blocked waiting for it).
#pragma once

#include "comm/collective_step.h"
#include "comm/communicator.h"
#include "common/error.h"
#include "config/cli.h"

namespace mpsbatch {

// Runs the job `cli` names. Collective. Throws JobFailed; aborts the job on a
// failure the ranks cannot agree on.
void RunJob(Communicator& comm, const CliOptions& cli);

}  // namespace mpsbatch
