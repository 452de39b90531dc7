// The one way mpsbatch's ranks take a collective step, and the one way a
// failure anywhere ends the job: either every rank agrees on it (the job ends
// with JobFailed on every rank, one line from rank 0) or the failing rank
// aborts the whole job (MPI_Abort). No failure may leave a rank unwinding into
// MPI_Finalize while the others wait in a collective: that is a hang.
//
// Every failure is reported as one line, FailureLine:
//   rank R failed in STEP: KIND: MESSAGE
// where STEP is a name from kCollectiveSteps (or "job" outside any step).
#pragma once

#include <array>
#include <exception>
#include <functional>
#include <string>
#include <string_view>

#include "comm/communicator.h"
#include "common/error.h"

namespace mpsbatch {

// Thrown on every rank after an agreed failure has been reported; carries the
// exit code's kind. main() prints nothing more for it.
class JobFailed : public std::exception {
 public:
  explicit JobFailed(ErrorKind kind) : kind_(kind) {}
  ErrorKind kind() const { return kind_; }
  const char* what() const noexcept override { return "job failed"; }

 private:
  ErrorKind kind_;
};

// Every collective step of a job, in the order RunJob takes them. Agree and
// Collective accept only these names, and each has a failure point
// (common/fault.h) under the same name: the test that walks this table
// (tests/e2e/e2e_collective_test.cpp) covers a new step without being told.
inline constexpr std::array<std::string_view, 16> kCollectiveSteps = {
    "read-job",           // rank 0 reads and validates the job file   (agreed)
    "share-job",          // the job's text to every rank              (aborts)
    "parse-job",          // every rank parses it; device prewarm      (agreed)
    "plan",               // rank 0: input, output, model's bytes      (agreed)
    "share-plan",         // the plan so far to every rank             (aborts)
    "choose-input-mode",  // shared or scatter, input opened           (aborts; a rank that cannot read: agreed)
    "distribute-model",   // the model's bytes to every rank           (aborts)
    "plan-model",         // rank 0: engine, probe batch, chunks;      (agreed; its line says "plan")
                          // the others: their engines, warmed
    "complete-plan",      // the whole plan to every rank              (aborts)
    "gather-devices",     // device names and core binding to rank 0   (aborts)
    "calibrate",          // batch size and forward path per device    (agreed)
    "create-output",      // rank 0 creates or reopens the output      (agreed)
    "agree-depth",        // chunks in flight per rank                 (aborts)
    "score",              // the rank loops                            (aborts, keeping the partial output)
    "gather-stats",       // rows, times, paths, non-finite counts     (aborts)
    "commit",             // rank 0 renames the output into place      (agreed)
};

// A failure: its kind and message.
struct Failure {
  ErrorKind kind = ErrorKind::kInternal;
  std::string message;
};

// What the exception being handled says (call only inside a catch block). An
// exception outside mpsbatch's hierarchy is an internal error.
Failure CurrentFailure();

// The step a failure line names: ShownStep(step). Rank 0's plan runs in two
// steps, "plan" and "plan-model" (the other ranks load their engines between
// them), and a user reads both as "plan".
constexpr std::string_view ShownStep(std::string_view step) { return step == "plan-model" ? "plan" : step; }

// "rank R failed in STEP: KIND: MESSAGE", STEP as ShownStep gives it.
std::string FailureLine(int rank, std::string_view step, const Failure& failure);

// What an agreed step's body does besides local work.
enum class StepBody {
  kLocal,                 // no collectives
  kCompletesCollectives,  // collectives that it completes whatever fails (as CalibrateRanks does)
};

// An agreed step: runs `body` on every rank, then all ranks learn whether any
// failed. On a failure, rank 0 logs FailureLine for the lowest failing rank
// (its kind and message travel to every rank) and every rank throws
// JobFailed. A CommError in `body`, or a failure of the agreement itself,
// aborts the job instead: the ranks may then be in different collectives.
// The step's failure point fires before a local body (which then does not
// run) and after one that completes collectives.
void Agree(Communicator& comm, std::string_view step, const std::function<void()>& body,
           StepBody kind = StepBody::kLocal);

// A step whose collectives a rank that fails midway cannot complete: any
// failure in `body` logs FailureLine on the failing rank, runs `before_abort`
// (what must survive the job, e.g. the partial output) and aborts the job
// with the kind's exit code. JobFailed from an Agree nested in `body` passes
// through (every rank throws it).
void Collective(Communicator& comm, std::string_view step, const std::function<void()>& body,
                const std::function<void()>& before_abort = {});

// Logs FailureLine on this rank, runs `before_abort` (its failures ignored)
// and ends every rank of the job with the failure's exit code.
[[noreturn]] void AbortJob(Communicator& comm, std::string_view step, const Failure& failure,
                           const std::function<void()>& before_abort = {});

// FailureLine of the last failure this rank learnt of: agreed in a step (the
// failing rank's, on every rank) or ending the job from this rank (AbortJob).
// "" before any. For what the job records of its failure (run/run_report.h).
std::string LastFailureLine();

// Makes std::terminate (an exception escaping a thread or a noexcept
// function) abort the job with a FailureLine naming this rank and "job",
// rather than leave the other ranks waiting on a rank that is gone.
void AbortJobOnTerminate(Communicator& comm);

}  // namespace mpsbatch
