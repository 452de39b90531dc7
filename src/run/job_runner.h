// A whole job on every rank, in phases: read the job (rank 0), plan it (rank 0:
// input metadata, model, probe batch), hand the plan and the model to every
// rank, choose shared or scatter input, load every rank's engine, run the rank
// loops, then commit the output file (rank 0).
//
// Failure policy: a failure during a setup phase is agreed on by all ranks,
// reported once (naming the first failing rank) and turned into JobFailed on
// every rank, so all exit with the same code. A failure while the rank loops
// run is reported by the failing rank, which then aborts the whole job (the
// others may be blocked waiting for it).
#pragma once

#include "comm/communicator.h"
#include "common/error.h"
#include "config/cli.h"

namespace mpsbatch {

// Thrown on every rank after a failure has been reported; carries the exit
// code's kind. main() prints nothing more for it.
class JobFailed : public std::exception {
 public:
  explicit JobFailed(ErrorKind kind) : kind_(kind) {}
  ErrorKind kind() const { return kind_; }
  const char* what() const noexcept override { return "job failed"; }

 private:
  ErrorKind kind_;
};

// Runs the job `cli` names. Collective. Throws JobFailed.
void RunJob(Communicator& comm, const CliOptions& cli);

}  // namespace mpsbatch
