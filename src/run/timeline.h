// A rank's timeline for the run report (run/run_report.h): for each chunk it
// scored, when it got the chunk and where the chunk's time went. Stamps are
// the steady clock's; the rank's main thread and compute thread fill a
// chunk's ChunkTiming as it passes (WorkItem and ResultItem carry it), each
// stamp one clock read, nothing per row.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

namespace mpsbatch {

using TimelineClock = std::chrono::steady_clock;

// Where one chunk's time went on the rank that scored it.
struct ChunkTiming {
  TimelineClock::time_point given{};          // main thread: handed to this rank (id or rows received, or taken)
  double read_seconds = 0;                    // reader thread: from `given`, its wait in line and the read (or decode)
  double reading_seconds = 0;                 // reader thread: the read (or decode) alone, part of read_seconds
  TimelineClock::time_point submitted{};      // reader thread: handed to the compute thread
  TimelineClock::time_point compute_begin{};  // compute thread: its first batch started
  TimelineClock::time_point compute_end{};    // compute thread: its last batch finished
  double start_seconds = 0;    // compute thread: in Engine::Start (copies and preprocessing; on CPU the whole batch)
  double finish_seconds = 0;   // compute thread: in Engine::Finish (waiting for the device) and checking outputs
  double deliver_seconds = 0;  // main thread: sending the result to rank 0, or writing it (rank 0)
  TimelineClock::time_point delivered{};  // main thread: sent or written
};

struct ChunkRecord {
  int64_t id = 0;
  int64_t rows = 0;
  ChunkTiming timing;
};

// One rank's chunks (its phases are JobTimes', run/report.h). Only the
// rank's main thread touches it.
struct RankTimeline {
  std::vector<ChunkRecord> chunks;      // in the order they were delivered
  double read_for_others_seconds = 0;   // rank 0, scatter mode: reading the other ranks' chunks
  double write_for_others_seconds = 0;  // rank 0: writing the other ranks' results
};

// Seconds from `from` to `to`.
inline double SecondsBetween(TimelineClock::time_point from, TimelineClock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace mpsbatch
