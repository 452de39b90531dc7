#include "comm/collective_step.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <optional>
#include <string>

#include "common/fault.h"
#include "common/log.h"

namespace mpsbatch {

namespace {

bool IsCollectiveStep(std::string_view step) {
  return std::find(kCollectiveSteps.begin(), kCollectiveSteps.end(), step) != kCollectiveSteps.end();
}

// A step name not in the table is a bug: its failures would go untested.
void CheckStepName(Communicator& comm, std::string_view step) {
  if (!IsCollectiveStep(step))
    AbortJob(comm, step, {ErrorKind::kInternal, "'" + std::string(step) + "' is not in kCollectiveSteps"});
}

// Runs `body`; returns what it threw, if anything.
std::optional<Failure> Run(const std::function<void()>& body) {
  try {
    body();
  } catch (...) {
    return CurrentFailure();
  }
  return std::nullopt;
}

std::atomic<Communicator*> g_terminate_comm{nullptr};

// LastFailureLine's; the main thread sets and reads it.
std::string g_last_failure;

[[noreturn]] void AbortOnTerminate() {
  Failure failure{ErrorKind::kInternal, "std::terminate called without an exception"};
  if (std::current_exception()) failure = CurrentFailure();
  failure.message = "unhandled (std::terminate): " + failure.message;
  if (Communicator* comm = g_terminate_comm.load()) AbortJob(*comm, "job", failure);
  std::fprintf(stderr, "mpsbatch: %s\n", failure.message.c_str());
  std::abort();
}

}  // namespace

Failure CurrentFailure() {
  try {
    throw;
  } catch (const Error& e) {
    return {e.kind(), e.what()};
  } catch (const std::exception& e) {
    return {ErrorKind::kInternal, e.what()};
  } catch (...) {
    return {ErrorKind::kInternal, "an exception that is not a std::exception"};
  }
}

std::string FailureLine(int rank, std::string_view step, const Failure& failure) {
  return "rank " + std::to_string(rank) + " failed in " + std::string(ShownStep(step)) + ": " +
         ErrorKindName(failure.kind) + ": " + failure.message;
}

void Agree(Communicator& comm, std::string_view step, const std::function<void()>& body, StepBody kind) {
  CheckStepName(comm, step);
  std::optional<Failure> failure = Run([&] {
    if (kind == StepBody::kLocal) FaultPoint(step);
    body();
    if (kind == StepBody::kCompletesCollectives) FaultPoint(step);
  });
  if (failure && failure->kind == ErrorKind::kComm) AbortJob(comm, step, *failure);
  int first = comm.size();
  std::string payload;
  try {
    // Ranks with nothing to do in the step (all but rank 0 while it plans)
    // wait here without spinning.
    comm.QuietBarrier();
    first = static_cast<int>(comm.AllreduceMin(failure ? comm.rank() : comm.size()));
    if (first == comm.size()) return;
    if (comm.rank() == first) payload = std::to_string(static_cast<int>(failure->kind)) + "\n" + failure->message;
    comm.Broadcast(payload, first);
  } catch (...) {
    Failure agreeing = CurrentFailure();
    agreeing.message = "agreeing on the step's outcome: " + agreeing.message;
    AbortJob(comm, step, failure ? *failure : agreeing);
  }
  const size_t newline = payload.find('\n');
  Failure agreed;
  agreed.kind = static_cast<ErrorKind>(std::stoi(payload.substr(0, newline)));
  agreed.message = payload.substr(newline + 1);
  g_last_failure = FailureLine(first, step, agreed);
  if (comm.rank() == 0) spdlog::error("{}", g_last_failure);
  throw JobFailed(agreed.kind);
}

void Collective(Communicator& comm, std::string_view step, const std::function<void()>& body,
                const std::function<void()>& before_abort) {
  CheckStepName(comm, step);
  try {
    FaultPoint(step);
    body();
  } catch (const JobFailed&) {
    throw;  // agreed by every rank in a nested Agree
  } catch (...) {
    AbortJob(comm, step, CurrentFailure(), before_abort);
  }
}

void AbortJob(Communicator& comm, std::string_view step, const Failure& failure,
              const std::function<void()>& before_abort) {
  g_last_failure = FailureLine(comm.rank(), step, failure);
  spdlog::error("{}", g_last_failure);
  if (before_abort) Run(before_abort);  // the abort comes whatever happens there
  spdlog::default_logger()->flush();
  comm.Abort(ExitCode(failure.kind));
}

std::string LastFailureLine() { return g_last_failure; }

void AbortJobOnTerminate(Communicator& comm) {
  g_terminate_comm.store(&comm);
  std::set_terminate(AbortOnTerminate);
}

}  // namespace mpsbatch
