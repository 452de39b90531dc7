#include "run/progress.h"

#include <spdlog/fmt/fmt.h>

namespace mpsbatch {

namespace {

// "1h 02m", "3m 05s", "42 s".
std::string Duration(double seconds) {
  const auto s = static_cast<int64_t>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}h {:02}m", s / 3600, (s % 3600) / 60);
  if (s >= 60) return fmt::format("{}m {:02}s", s / 60, s % 60);
  return fmt::format("{} s", s);
}

}  // namespace

Progress::Progress(int64_t rows, int64_t chunks, int64_t rows_done, int64_t chunks_done, double interval_seconds,
                   Clock::time_point start)
    : rows_(rows),
      chunks_(chunks),
      rows_before_(rows_done),
      rows_done_(rows_done),
      chunks_done_(chunks_done),
      interval_(interval_seconds),
      start_(start),
      next_(start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(interval_seconds))) {}

void Progress::ChunkWritten(int64_t rows) {
  rows_done_ += rows;
  ++chunks_done_;
}

std::optional<std::string> Progress::Due(Clock::time_point now, int busy_ranks, int ranks) {
  if (interval_ <= 0 || now < next_) return std::nullopt;
  const auto step = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(interval_));
  while (next_ <= now) next_ += step;
  return Line(now, busy_ranks, ranks);
}

std::string Progress::Line(Clock::time_point now, int busy_ranks, int ranks) const {
  const double seconds = std::chrono::duration<double>(now - start_).count();
  const int64_t scored = rows_done_ - rows_before_;
  const double rate = seconds > 0 ? static_cast<double>(scored) / seconds : 0;
  const double percent = rows_ > 0 ? 100.0 * static_cast<double>(rows_done_) / static_cast<double>(rows_) : 100.0;
  std::string left = "time left unknown";
  if (rate > 0) left = "about " + Duration(static_cast<double>(rows_ - rows_done_) / rate) + " left";
  return fmt::format("progress: {} of {} rows ({:.1f}%), {} of {} chunks, {:.0f} rows/s, {}; {} of {} rank(s) busy",
                     rows_done_, rows_, percent, chunks_done_, chunks_, rate, left, busy_ranks, ranks);
}

}  // namespace mpsbatch
