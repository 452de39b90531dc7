// Rank 0's watch over the chunks it hands out: a rank that holds a chunk and
// returns nothing for long is named in a warning, and past the stall deadline
// the job ends by name instead of waiting forever (a stopped process, a model
// that never returns, a hung device). A rank is measured from its last result
// (or from when it was given its oldest chunk, if later), so chunks queued
// behind the one it computes do not count as waiting.
//
// The deadline (stall_timeout): a number of seconds, off, or auto: the larger
// of kAutoFloorSeconds and kAutoFactor times the slowest chunk seen so far.
// Warnings come at half the deadline (off: after the larger of 60 s and 3
// times the slowest chunk), then each time the wait doubles.
// Not thread-safe: rank 0's main thread calls it; time comes in as arguments,
// so that tests can drive it.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "config/job.h"

namespace mpsbatch {

class StallWatch {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr double kAutoFloorSeconds = 600;
  static constexpr double kAutoFactor = 10;

  StallWatch(int ranks, StallTimeout timeout);

  void Given(int rank, int64_t chunk, Clock::time_point now);
  void Finished(int rank, int64_t chunk, Clock::time_point now);
  // Logs a warning for each rank waited on past the warning time; throws
  // StallError naming the rank, its chunk and the wait past the deadline.
  // Cheap enough for every turn of rank 0's loop: it looks every 100 ms.
  void Check(Clock::time_point now);

  // Seconds a rank may hold a chunk without a result now; 0 under off.
  double DeadlineSeconds() const;
  double WarnSeconds() const;

 private:
  struct Rank {
    std::deque<std::pair<int64_t, Clock::time_point>> held;  // chunk, when given; oldest first
    Clock::time_point last_result{};
    double next_warning = 0;  // seconds of waiting that bring the next warning; 0: the first
  };
  Clock::time_point WaitingSince(const Rank& r) const;

  StallTimeout timeout_;
  std::vector<Rank> ranks_;
  double slowest_ = 0;  // seconds: the slowest chunk seen, from its rank's previous result or its giving
  Clock::time_point next_check_{};
};

}  // namespace mpsbatch
