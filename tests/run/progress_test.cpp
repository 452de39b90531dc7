#include "run/progress.h"

#include <gtest/gtest.h>

namespace mpsbatch {
namespace {

using Clock = Progress::Clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(Progress, OneLinePerIntervalWithRateAndTimeLeft) {
  const Clock::time_point t0{};
  Progress p(1000, 10, 0, 0, 10, t0);
  EXPECT_EQ(p.Due(t0 + seconds(5), 2, 2), std::nullopt);
  for (int i = 0; i < 4; ++i) p.ChunkWritten(100);
  const auto line = p.Due(t0 + seconds(10), 2, 3);
  ASSERT_TRUE(line);
  EXPECT_EQ(*line,
            "progress: 400 of 1000 rows (40.0%), 4 of 10 chunks, 40 rows/s, about 15 s left; 2 of 3 rank(s) busy");
  EXPECT_EQ(p.Due(t0 + seconds(19), 2, 3), std::nullopt);  // the next at 20 s
  EXPECT_TRUE(p.Due(t0 + seconds(20), 2, 3));
  // A loop that did not look for 35 s gives one line, not three.
  EXPECT_TRUE(p.Due(t0 + seconds(55), 1, 3));
  EXPECT_EQ(p.Due(t0 + seconds(59), 1, 3), std::nullopt);
}

TEST(Progress, OffMeansNoLine) {
  const Clock::time_point t0{};
  Progress p(1000, 10, 0, 0, 0, t0);
  p.ChunkWritten(100);
  EXPECT_EQ(p.Due(t0 + seconds(3600), 1, 1), std::nullopt);
}

TEST(Progress, AResumeCountsEarlierChunksAsDoneButNotInTheRate) {
  const Clock::time_point t0{};
  Progress p(10000, 100, 5000, 50, 1, t0);
  for (int i = 0; i < 10; ++i) p.ChunkWritten(100);
  EXPECT_EQ(p.Line(t0 + seconds(10), 4, 4),
            "progress: 6000 of 10000 rows (60.0%), 60 of 100 chunks, 100 rows/s, about 40 s left; 4 of 4 rank(s) "
            "busy");
}

TEST(Progress, LongJobsShowMinutesAndHoursAndNoRateYetSaysSo) {
  const Clock::time_point t0{};
  Progress p(10'000'000, 1000, 0, 0, 60, t0);
  EXPECT_NE(p.Line(t0 + milliseconds(500), 1, 1).find("0 rows/s, time left unknown"), std::string::npos);
  p.ChunkWritten(10'000);
  EXPECT_NE(p.Line(t0 + seconds(10), 1, 1).find("about 2h 46m left"), std::string::npos);
  Progress q(100'000, 100, 0, 0, 60, t0);
  q.ChunkWritten(1000);
  EXPECT_NE(q.Line(t0 + seconds(2), 1, 1).find("about 3m 18s left"), std::string::npos);
}

TEST(Progress, TheLiveTextSaysTheSameInShort) {
  const Clock::time_point t0{};
  Progress p(1000, 10, 0, 0, kLiveRefreshSeconds, t0, true);
  for (int i = 0; i < 4; ++i) p.ChunkWritten(100);
  EXPECT_EQ(p.LiveText(t0 + seconds(10), 2, 3),
            "scoring: 400/1000 rows 40%, 4/10 chunks, 40 rows/s, ETA 15 s, 2/3 busy");
  Progress q(1000, 10, 0, 0, kLiveRefreshSeconds, t0, true);
  EXPECT_EQ(q.LiveText(t0 + milliseconds(500), 1, 1),
            "scoring: 0/1000 rows 0%, 0/10 chunks, 0 rows/s, ETA ?, 1/1 busy");
}

// At 8 ranks and a billion rows the text still fits an 80-column terminal.
TEST(Progress, TheLiveTextFitsEightyColumns) {
  const Clock::time_point t0{};
  Progress p(1'000'000'000, 100'000, 0, 0, kLiveRefreshSeconds, t0, true);
  p.ChunkWritten(123'456'789);
  EXPECT_EQ(p.LiveText(t0 + seconds(100), 8, 8),
            "scoring: 123M/1G rows 12%, 1/100k chunks, 1.23M rows/s, ETA 11m 50s, 8/8 busy");
  EXPECT_LT(p.LiveText(t0 + seconds(100), 8, 8).size(), 80u);
  Progress q(999'999, 10, 0, 0, kLiveRefreshSeconds, t0, true);
  q.ChunkWritten(999'600);
  EXPECT_EQ(q.LiveText(t0 + seconds(1), 1, 1).rfind("scoring: 1M/1M rows 100%", 0), 0u)
      << q.LiveText(t0 + seconds(1), 1, 1);
}

TEST(Progress, AutoIsLiveOnATerminalAndLinesElsewhere) {
  EXPECT_EQ(ResolveProgressStyle(ProgressStyle::kAuto, 10, true), ProgressStyle::kLive);
  EXPECT_EQ(ResolveProgressStyle(ProgressStyle::kAuto, 10, false), ProgressStyle::kLines);
  EXPECT_EQ(ResolveProgressStyle(ProgressStyle::kLines, 10, true), ProgressStyle::kLines);
  EXPECT_EQ(ResolveProgressStyle(ProgressStyle::kLive, 10, false), ProgressStyle::kLive);
  EXPECT_EQ(ResolveProgressStyle(ProgressStyle::kOff, 10, true), ProgressStyle::kOff);
}

// progress_interval: off keeps meaning no progress, unless live is asked for.
TEST(Progress, NoIntervalMeansNoneUnlessLiveIsForced) {
  EXPECT_EQ(ResolveProgressStyle(ProgressStyle::kAuto, 0, true), ProgressStyle::kOff);
  EXPECT_EQ(ResolveProgressStyle(ProgressStyle::kLines, 0, false), ProgressStyle::kOff);
  EXPECT_EQ(ResolveProgressStyle(ProgressStyle::kLive, 0, false), ProgressStyle::kLive);
}

TEST(Progress, TheLiveLineIsRedrawnTwiceASecondOrAtTheIntervalIfShorter) {
  EXPECT_EQ(ProgressEvery(ProgressStyle::kLive, 10), kLiveRefreshSeconds);
  EXPECT_EQ(ProgressEvery(ProgressStyle::kLive, 0.02), 0.02);
  EXPECT_EQ(ProgressEvery(ProgressStyle::kLive, 0), kLiveRefreshSeconds);  // forced live, progress_interval: off
  EXPECT_EQ(ProgressEvery(ProgressStyle::kLines, 10), 10);
  EXPECT_EQ(ProgressEvery(ProgressStyle::kOff, 10), 0);
}

}  // namespace
}  // namespace mpsbatch
