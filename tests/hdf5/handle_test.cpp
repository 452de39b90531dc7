// The HDF5 handle and the bridge from HDF5's error stack to messages.
#include "hdf5/handle.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "test_util.h"

namespace mpsbatch {

namespace {

using Hdf5HandleTest = testing::Hdf5FolderTest;

}  // namespace

// A write that fails for want of space says so on the error's one line (the
// reason HDF5 gives carries the time from ctime(), newline and all).
TEST_F(Hdf5HandleTest, AFullDiskIsSaidOnOneLine) {
  if (!std::filesystem::exists("/dev/full")) GTEST_SKIP() << "no /dev/full here";
  std::filesystem::create_symlink("/dev/full", Path("full.h5"));
  H5Handle file(H5Fcreate(Path("full.h5").c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
  ASSERT_FALSE(file.valid()) << "writing the superblock to /dev/full should fail";
  const std::string message = Hdf5Message();
  EXPECT_NE(message.find("file write failed: filename = '" + Path("full.h5") + "'"), std::string::npos) << message;
  EXPECT_NE(message.find("No space left on device"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

}  // namespace mpsbatch
