// Rank 0's progress line while the job scores: every `progress` seconds one
// log line with the rows and chunks written, the rate since scoring began,
// the time left at that rate and how many ranks hold work. A job that
// resumes counts the chunks an earlier run wrote as done, and its rate only
// from what this run writes.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace mpsbatch {

class Progress {
 public:
  using Clock = std::chrono::steady_clock;

  // `interval_seconds` <= 0: never a line. `rows_done`/`chunks_done`: what
  // an earlier run wrote.
  Progress(int64_t rows, int64_t chunks, int64_t rows_done, int64_t chunks_done, double interval_seconds,
           Clock::time_point start);

  void ChunkWritten(int64_t rows);
  // The line due at `now`, if an interval has passed since the last one (or
  // since the start); nothing otherwise.
  std::optional<std::string> Due(Clock::time_point now, int busy_ranks, int ranks);
  // The line itself, at `now`.
  std::string Line(Clock::time_point now, int busy_ranks, int ranks) const;

 private:
  int64_t rows_, chunks_;
  int64_t rows_before_, rows_done_, chunks_done_;
  double interval_;
  Clock::time_point start_, next_;
};

}  // namespace mpsbatch
