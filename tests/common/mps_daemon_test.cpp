#include "common/mps_daemon.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "test_util.h"

namespace mpsbatch {

TEST(MpsDaemon, ServingWhenThePipeFolderHoldsTheControlPipe) {
  const auto dir = testing::TestDir();
  ASSERT_EQ(::mkfifo((dir / "control").c_str(), 0600), 0);
  const MpsDaemon d = FindMpsDaemon(dir.c_str());
  EXPECT_EQ(d.pipe_dir, dir.string());
  EXPECT_TRUE(d.serving);
}

TEST(MpsDaemon, NotServingWithoutTheControlPipe) {
  const auto dir = testing::TestDir();
  EXPECT_FALSE(FindMpsDaemon(dir.c_str()).serving);
  EXPECT_FALSE(FindMpsDaemon((dir / "absent").c_str()).serving);
  // A plain file of that name is not the daemon's pipe.
  testing::WriteFile(dir / "control", "");
  EXPECT_FALSE(FindMpsDaemon(dir.c_str()).serving);
}

TEST(MpsDaemon, UnsetPipeFolderIsTheDriversDefault) {
  EXPECT_EQ(FindMpsDaemon(nullptr).pipe_dir, "/tmp/nvidia-mps");
  EXPECT_EQ(FindMpsDaemon("").pipe_dir, "/tmp/nvidia-mps");
}

}  // namespace mpsbatch
