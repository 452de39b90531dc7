#include "common/stop_signal.h"

#include <signal.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>

#include "common/log.h"

namespace mpsbatch {

namespace {

constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGHUP};

volatile std::sig_atomic_t g_pending = 0;
bool g_taken = false;  // ThrowIfStopSignalled has acted on g_pending (the arming thread only)

void SetAction(int signal, void (*handler)(int)) {
  struct sigaction action {};
  action.sa_handler = handler;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // the loop polls; no call elsewhere should fail with EINTR
  sigaction(signal, &action, nullptr);
}

// Async-signal-safe: records the first signal; a second one is not waited on.
void OnStopSignal(int signal) {
  if (g_pending != 0) {
    SetAction(signal, SIG_DFL);
    raise(signal);
    return;
  }
  g_pending = signal;
}

}  // namespace

StopSignals::StopSignals() {
  g_pending = 0;
  g_taken = false;
  for (int s : kStopSignals) SetAction(s, OnStopSignal);
}

StopSignals::~StopSignals() {
  for (int s : kStopSignals) SetAction(s, SIG_DFL);
  // A signal that came after the loop's last look is not dropped.
  if (const int signal = g_pending; signal != 0 && !g_taken) raise(signal);
}

int PendingStopSignal() { return g_pending; }

void ThrowIfStopSignalled() {
  if (const int signal = g_pending; signal != 0) {
    g_taken = true;
    throw StopRequested(signal);
  }
}

void EndBySignal(int signal) {
  spdlog::default_logger()->flush();
  std::fflush(nullptr);
  SetAction(signal, SIG_DFL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, signal);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  raise(signal);
  _exit(128 + signal);  // not reached: the default action of these signals ends the process
}

}  // namespace mpsbatch
