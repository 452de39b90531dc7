// Helpers shared by the test binaries.
#pragma once

#include <gtest/gtest.h>
#include <sys/inotify.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/unique_fd.h"
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

// The names created in folder `dir` (not below it), by any process, from its
// construction on: the kernel queues each creation (or rename into the
// folder) as it happens, so what Created() returns after the creating call or
// process has returned is complete.
class FolderWatch {
 public:
  explicit FolderWatch(const std::filesystem::path& dir) : fd_(inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {
    EXPECT_TRUE(fd_.valid() && inotify_add_watch(fd_.get(), dir.c_str(), IN_CREATE | IN_MOVED_TO) >= 0) << dir;
  }
  // The names created since the last call (or construction), in order.
  std::vector<std::string> Created() {
    std::vector<std::string> names;
    alignas(inotify_event) char buffer[64 * 1024];
    for (ssize_t n; (n = read(fd_.get(), buffer, sizeof buffer)) > 0;)
      for (ssize_t at = 0; at < n;) {
        const auto* event = reinterpret_cast<const inotify_event*>(buffer + at);
        EXPECT_FALSE(event->mask & IN_Q_OVERFLOW) << "inotify's queue overflowed";
        if (event->len > 0) names.emplace_back(event->name);
        at += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
      }
    return names;
  }

 private:
  UniqueFd fd_;
};

}  // namespace mpsbatch::testing
