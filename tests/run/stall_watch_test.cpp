#include "run/stall_watch.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace mpsbatch {
namespace {

using Clock = StallWatch::Clock;
const Clock::time_point kT0 = Clock::now();
Clock::time_point At(double seconds) {
  return kT0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

std::string StallMessage(StallWatch& watch, double seconds) {
  try {
    watch.Check(At(seconds));
  } catch (const StallError& e) {
    return e.what();
  }
  return "";
}

TEST(StallWatch, FixedTimeoutNamesTheRankAndItsOldestChunk) {
  StallWatch watch(3, {StallTimeout::Mode::kSeconds, 5});
  watch.Given(1, 7, At(0));
  watch.Given(1, 9, At(0));
  watch.Given(2, 8, At(0));
  watch.Finished(2, 8, At(1));
  EXPECT_EQ(StallMessage(watch, 4.9), "");
  EXPECT_EQ(StallMessage(watch, 5.2).rfind("rank 1 has not finished chunk 7 in 5 s (stall_timeout: 5 s", 0), 0)
      << StallMessage(watch, 5.4);
}

TEST(StallWatch, AWaitCountsFromTheRanksLastResult) {
  StallWatch watch(2, {StallTimeout::Mode::kSeconds, 5});
  watch.Given(1, 0, At(0));
  watch.Given(1, 1, At(0));
  watch.Finished(1, 0, At(4));  // chunk 1 waited behind chunk 0
  EXPECT_EQ(StallMessage(watch, 8.5), "");
  EXPECT_NE(StallMessage(watch, 9.1).find("rank 1 has not finished chunk 1 in 5 s"), std::string::npos);
}

TEST(StallWatch, AutoFollowsTheSlowestChunk) {
  StallWatch watch(2, {});
  EXPECT_EQ(watch.DeadlineSeconds(), StallWatch::kAutoFloorSeconds);
  watch.Given(0, 0, At(0));
  watch.Finished(0, 0, At(100));
  EXPECT_EQ(watch.DeadlineSeconds(), 100 * StallWatch::kAutoFactor);
  watch.Given(1, 1, At(100));
  EXPECT_EQ(StallMessage(watch, 1099), "");
  EXPECT_NE(StallMessage(watch, 1101).find("rank 1 has not finished chunk 1 in 1001 s (stall_timeout: auto, 1000 s"),
            std::string::npos);
}

TEST(StallWatch, OffNeverEndsTheJob) {
  StallWatch watch(2, {StallTimeout::Mode::kOff, 0});
  watch.Given(1, 3, At(0));
  EXPECT_EQ(watch.DeadlineSeconds(), 0);
  EXPECT_EQ(watch.WarnSeconds(), 60);
  EXPECT_EQ(StallMessage(watch, 1e6), "");
}

}  // namespace
}  // namespace mpsbatch
