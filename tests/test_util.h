// Helpers shared by the test binaries.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "hdf5/handle.h"

namespace mpsbatch::testing {

// A fresh, empty folder for the running test, under the build tree.
inline std::filesystem::path TestDir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(info->test_suite_name()) + "." + info->name();
  for (auto& c : name)
    if (c == '/') c = '_';
  auto dir = std::filesystem::path(MPSBATCH_TEST_TMP) / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// A test of HDF5 files in a fresh folder of its own: Path(name) is in it, and
// HDF5 keeps its error stack to itself.
class Hdf5FolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SilenceHdf5Errors();
    dir_ = TestDir();
  }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  std::filesystem::path dir_;
};

inline void WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

inline std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace mpsbatch::testing
