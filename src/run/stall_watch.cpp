#include "run/stall_watch.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "common/log.h"

namespace mpsbatch {

namespace {

double Seconds(StallWatch::Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::string Describe(const StallTimeout& t, double deadline) {
  switch (t.mode) {
    case StallTimeout::Mode::kAuto: return fmt::format("stall_timeout: auto, {:.0f} s now", deadline);
    case StallTimeout::Mode::kOff: return "stall_timeout: off";
    case StallTimeout::Mode::kSeconds: return fmt::format("stall_timeout: {:g} s", t.seconds);
  }
  return "stall_timeout";
}

}  // namespace

StallWatch::StallWatch(int ranks, StallTimeout timeout) : timeout_(timeout), ranks_(static_cast<size_t>(ranks)) {}

void StallWatch::Given(int rank, int64_t chunk, Clock::time_point now) {
  ranks_[static_cast<size_t>(rank)].held.emplace_back(chunk, now);
}

void StallWatch::Finished(int rank, int64_t chunk, Clock::time_point now) {
  Rank& r = ranks_[static_cast<size_t>(rank)];
  const auto it = std::find_if(r.held.begin(), r.held.end(), [&](const auto& h) { return h.first == chunk; });
  if (it == r.held.end()) return;
  slowest_ = std::max(slowest_, Seconds(now - std::max(it->second, r.last_result)));
  r.held.erase(it);
  r.last_result = now;
  r.next_warning = 0;
}

double StallWatch::DeadlineSeconds() const {
  switch (timeout_.mode) {
    case StallTimeout::Mode::kAuto: return std::max(kAutoFloorSeconds, kAutoFactor * slowest_);
    case StallTimeout::Mode::kOff: return 0;
    case StallTimeout::Mode::kSeconds: return timeout_.seconds;
  }
  return 0;
}

double StallWatch::WarnSeconds() const {
  if (timeout_.mode == StallTimeout::Mode::kOff) return std::max(60.0, 3 * slowest_);
  return DeadlineSeconds() / 2;
}

StallWatch::Clock::time_point StallWatch::WaitingSince(const Rank& r) const {
  return std::max(r.held.front().second, r.last_result);
}

void StallWatch::Check(Clock::time_point now) {
  if (now < next_check_) return;
  next_check_ = now + std::chrono::milliseconds(100);
  const double deadline = DeadlineSeconds();
  for (size_t rank = 0; rank < ranks_.size(); ++rank) {
    Rank& r = ranks_[rank];
    if (r.held.empty()) continue;
    const double waited = Seconds(now - WaitingSince(r));
    const int64_t chunk = r.held.front().first;
    if (deadline > 0 && waited >= deadline)
      throw StallError(fmt::format(
          "rank {} has not finished chunk {} in {:.0f} s ({}; the slowest chunk so far took {:.1f} s). If a chunk "
          "may take that long, set stall_timeout to more seconds, or off",
          rank, chunk, waited, Describe(timeout_, deadline), slowest_));
    if (r.next_warning == 0) r.next_warning = WarnSeconds();
    if (waited < r.next_warning) continue;
    spdlog::warn("waiting {:.0f} s for rank {} to finish chunk {} (the slowest chunk so far took {:.1f} s); {}", waited,
                 rank, chunk, slowest_,
                 deadline > 0 ? fmt::format("the job ends at {:.0f} s ({})", deadline, Describe(timeout_, deadline))
                              : std::string("stall_timeout is off"));
    r.next_warning = 2 * waited;
  }
}

}  // namespace mpsbatch
