// The calibration cache: an entry comes back only for its own key, whole;
// anything else is a miss, and a folder that cannot be written is a reason,
// not an exception.
#include "run/calibration_cache.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "test_util.h"

namespace mpsbatch {

TEST(CalibrationCache, RoundTripForTheSameKeyOnly) {
  const auto dir = testing::TestDir() / "cache";
  CalibrationCache cache(dir.string(), "model abc\ndevice cuda H100\n");
  EXPECT_FALSE(cache.Load());
  EXPECT_EQ(cache.Store({256, "frozen+channels_last", "frozen 19042 rows/s\n(line two)"}), "");
  auto hit = cache.Load();
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->batch_size, 256);
  EXPECT_EQ(hit->path, "frozen+channels_last");
  EXPECT_EQ(hit->summary, "frozen 19042 rows/s (line two)");
  EXPECT_FALSE(CalibrationCache(dir.string(), "model abc\ndevice cuda A100\n").Load());
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator()), 1);
}

TEST(CalibrationCache, DamagedEntriesAreMisses) {
  const auto dir = testing::TestDir();
  CalibrationCache cache(dir.string(), "key\n");
  ASSERT_EQ(cache.Store({64, "eager", "s"}), "");
  const std::string whole = testing::ReadFile(cache.file());
  for (size_t cut : {size_t{0}, size_t{10}, whole.size() - 5}) {
    testing::WriteFile(cache.file(), whole.substr(0, cut));
    EXPECT_FALSE(cache.Load()) << "cut at " << cut;
  }
  std::string bad = whole;
  bad.replace(bad.find("batch_size=64"), 13, "batch_size=xy");
  testing::WriteFile(cache.file(), bad);
  EXPECT_FALSE(cache.Load());
}

TEST(CalibrationCache, OffAndUnwritable) {
  CalibrationCache off("", "key\n");
  EXPECT_FALSE(off.enabled());
  EXPECT_FALSE(off.Load());
  EXPECT_EQ(off.Store({1, "eager", ""}), "");
  const auto dir = testing::TestDir();
  testing::WriteFile(dir / "file", "x");  // a file where the folder should be
  CalibrationCache blocked((dir / "file" / "cache").string(), "key\n");
  EXPECT_NE(blocked.Store({1, "eager", ""}).find("cannot create"), std::string::npos);
}

}  // namespace mpsbatch
