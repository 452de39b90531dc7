#include "run/progress.h"

#include <algorithm>

#include "common/log.h"

namespace mpsbatch {

namespace {

// "1h 02m", "3m 05s", "42 s".
std::string Duration(double seconds) {
  const auto s = static_cast<int64_t>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}h {:02}m", s / 3600, (s % 3600) / 60);
  if (s >= 60) return fmt::format("{}m {:02}s", s / 60, s % 60);
  return fmt::format("{} s", s);
}

// "40", "98765", "124k", "1.23M", "1G": three digits at most from 100000 on.
std::string Compact(double n) {
  if (n < 100'000) return fmt::format("{:.0f}", n);
  if (n < 999'500) return fmt::format("{:.3g}k", n / 1e3);  // not "1e+03k"
  if (n < 999'500'000) return fmt::format("{:.3g}M", n / 1e6);
  return fmt::format("{:.3g}G", n / 1e9);
}

}  // namespace

ProgressStyle ResolveProgressStyle(ProgressStyle requested, double interval_seconds, bool terminal) {
  if (requested == ProgressStyle::kLive || requested == ProgressStyle::kOff) return requested;
  if (interval_seconds <= 0) return ProgressStyle::kOff;
  if (requested == ProgressStyle::kAuto && terminal) return ProgressStyle::kLive;
  return ProgressStyle::kLines;
}

double ProgressEvery(ProgressStyle style, double interval_seconds) {
  if (style == ProgressStyle::kLive)
    return interval_seconds > 0 ? std::min(interval_seconds, kLiveRefreshSeconds) : kLiveRefreshSeconds;
  return style == ProgressStyle::kLines ? interval_seconds : 0;
}

Progress::Progress(int64_t rows, int64_t chunks, int64_t rows_done, int64_t chunks_done, double interval_seconds,
                   Clock::time_point start, bool live)
    : rows_(rows),
      chunks_(chunks),
      rows_before_(rows_done),
      rows_done_(rows_done),
      chunks_done_(chunks_done),
      interval_(interval_seconds),
      start_(start),
      next_(start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(interval_seconds))),
      live_(live) {}

Progress::~Progress() {
  if (live_) ClearStatus();
}

void Progress::ChunkWritten(int64_t rows) {
  rows_done_ += rows;
  ++chunks_done_;
}

bool Progress::Advance(Clock::time_point now) {
  if (interval_ <= 0 || now < next_) return false;
  const auto step = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(interval_));
  while (next_ <= now) next_ += step;
  return true;
}

std::optional<std::string> Progress::Due(Clock::time_point now, int busy_ranks, int ranks) {
  if (!Advance(now)) return std::nullopt;
  return Line(now, busy_ranks, ranks);
}

double Progress::Rate(Clock::time_point now) const {
  const double seconds = std::chrono::duration<double>(now - start_).count();
  return seconds > 0 ? static_cast<double>(rows_done_ - rows_before_) / seconds : 0;
}

std::string Progress::TimeLeft(Clock::time_point now) const {
  const double r = Rate(now);
  return r > 0 ? Duration(static_cast<double>(rows_ - rows_done_) / r) : "";
}

std::string Progress::Line(Clock::time_point now, int busy_ranks, int ranks) const {
  const double percent = rows_ > 0 ? 100.0 * static_cast<double>(rows_done_) / static_cast<double>(rows_) : 100.0;
  const std::string left = TimeLeft(now);
  return fmt::format("progress: {} of {} rows ({:.1f}%), {} of {} chunks{}, {:.0f} rows/s, {}; {} of {} rank(s) busy",
                     rows_done_, rows_, percent, chunks_done_, chunks_, note_.empty() ? "" : ", " + note_, Rate(now),
                     left.empty() ? "time left unknown" : "about " + left + " left", busy_ranks, ranks);
}

std::string Progress::LiveText(Clock::time_point now, int busy_ranks, int ranks) const {
  const double percent = rows_ > 0 ? 100.0 * static_cast<double>(rows_done_) / static_cast<double>(rows_) : 100.0;
  const std::string left = TimeLeft(now);
  const auto n = [](int64_t v) { return Compact(static_cast<double>(v)); };
  return fmt::format("scoring: {}/{} rows {:.0f}%, {}/{} chunks{}, {} rows/s, ETA {}, {}/{} busy", n(rows_done_),
                     n(rows_), percent, n(chunks_done_), n(chunks_), note_.empty() ? "" : ", " + note_,
                     Compact(Rate(now)), left.empty() ? "?" : left, busy_ranks, ranks);
}

void Progress::Tick(Clock::time_point now, int busy_ranks, int ranks) {
  if (!Advance(now)) return;
  if (live_)
    ShowStatus(LiveText(now, busy_ranks, ranks));
  else
    spdlog::info("{}", Line(now, busy_ranks, ranks));
}

}  // namespace mpsbatch
