// Rank 0's progress while the job scores: the rows and chunks written, the
// rate since scoring began, the time left at that rate and how many ranks
// hold work. Either one log line every progress_interval seconds, or (where
// the log reaches a terminal, job key `progress`) one status line rewritten in
// place twice a second and erased when scoring ends (common/status_line.h).
// A job that resumes counts the chunks an earlier run wrote as done, and its
// rate only from what this run writes.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "config/job.h"

namespace mpsbatch {

// What `requested` comes to, given the interval of progress_interval (0: off)
// and whether rank 0's log reaches a terminal: auto is live on a terminal and
// lines elsewhere; without an interval, only a forced live line shows.
// Returns kLive, kLines or kOff.
ProgressStyle ResolveProgressStyle(ProgressStyle requested, double interval_seconds, bool terminal);

// How often the live line is redrawn (or every progress_interval, if shorter).
inline constexpr double kLiveRefreshSeconds = 0.5;

// Seconds between two outputs of a resolved `style`: the live line's redraw,
// progress_interval's lines, or 0 for none.
double ProgressEvery(ProgressStyle style, double interval_seconds);

class Progress {
 public:
  using Clock = std::chrono::steady_clock;

  // `interval_seconds` <= 0: never a line. `rows_done`/`chunks_done`: what
  // an earlier run wrote. `live`: Tick shows the status line instead of
  // logging, and the destructor erases it.
  Progress(int64_t rows, int64_t chunks, int64_t rows_done, int64_t chunks_done, double interval_seconds,
           Clock::time_point start, bool live = false);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void ChunkWritten(int64_t rows);
  // Words the lines add after the chunks ("5 of 17 files committed"); "" none.
  void SetNote(std::string note) { note_ = std::move(note); }
  // The line due at `now`, if an interval has passed since the last one (or
  // since the start); nothing otherwise.
  std::optional<std::string> Due(Clock::time_point now, int busy_ranks, int ranks);
  // The line itself, at `now`.
  std::string Line(Clock::time_point now, int busy_ranks, int ranks) const;
  // The status line's text, at `now`: the same facts, shorter.
  std::string LiveText(Clock::time_point now, int busy_ranks, int ranks) const;
  // Logs the line, or shows the status line, if one is due at `now`.
  void Tick(Clock::time_point now, int busy_ranks, int ranks);

 private:
  int64_t rows_, chunks_;
  int64_t rows_before_, rows_done_, chunks_done_;
  // Moves the next time due past `now` if it has come; false if not.
  bool Advance(Clock::time_point now);
  double Rate(Clock::time_point now) const;
  std::string TimeLeft(Clock::time_point now) const;

  std::string note_;
  double interval_;
  Clock::time_point start_, next_;
  bool live_;
};

}  // namespace mpsbatch
