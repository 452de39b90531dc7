// Stopping on SIGINT, SIGTERM or SIGHUP (Ctrl-C, scancel, a wall-time limit;
// mpirun turns each into SIGTERM for the ranks, then SIGKILL after
// odls_base_sigkill_timeout, 1 s by default). Outside a StopSignals scope
// these signals end the process at once, as by default: before scoring there
// is nothing to save. Inside one, the first such signal only records its
// number; the loop that armed it sees PendingStopSignal(), saves what is
// finished and ends the process with EndBySignal(). A second signal, while
// the first is being handled, ends the process at once.
#pragma once

#include <exception>

namespace mpsbatch {

// Arms the handlers for its lifetime (one scope at a time, on one thread);
// the destructor restores the default actions, and ends the process by a
// signal that came but that ThrowIfStopSignalled() did not report.
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
};

// The signal received while armed, or 0. Safe to call from any thread.
int PendingStopSignal();

// Thrown by a loop that saw PendingStopSignal(); not an Error: the job did
// not fail, it was told to stop.
class StopRequested : public std::exception {
 public:
  explicit StopRequested(int signal) : signal_(signal) {}
  int signal() const { return signal_; }
  const char* what() const noexcept override { return "stopped by a signal"; }

 private:
  int signal_;
};

// Throws StopRequested if a stop signal is pending.
void ThrowIfStopSignalled();

// Ends the process as `signal` would have by default (the shell then reports
// 128 + signal: 130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP). Flushes
// the log first.
[[noreturn]] void EndBySignal(int signal);

}  // namespace mpsbatch
