#include "common/file_identity.h"

#include <sys/stat.h>

#include <fstream>

namespace mpsbatch {

namespace {

// Two machines may share a host name, and device and inode numbers mean
// something only within one running kernel.
const std::string& KernelId() {
  static const std::string id = [] {
    std::string line;
    std::ifstream boot("/proc/sys/kernel/random/boot_id");  // Linux
    std::getline(boot, line);
    return line;
  }();
  return id;
}

long long Nanoseconds(const timespec& t) { return static_cast<long long>(t.tv_sec) * 1000000000LL + t.tv_nsec; }

std::string Identity(const struct stat& st) {
#if defined(__APPLE__)
  const long long mtime = Nanoseconds(st.st_mtimespec), ctime = Nanoseconds(st.st_ctimespec);
#else
  const long long mtime = Nanoseconds(st.st_mtim), ctime = Nanoseconds(st.st_ctim);
#endif
  return KernelId() + "|" + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" +
         std::to_string(st.st_size) + ":" + std::to_string(mtime) + ":" + std::to_string(ctime);
}

}  // namespace

std::string FileIdentity(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? Identity(st) : "";
}

std::string FileIdentityOfOpenFile(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 ? Identity(st) : "";
}

std::optional<FileKey> FileKeyOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return FileKey{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
}

bool SameFile(const std::string& a, const std::string& b) {
  const auto key = FileKeyOf(a);
  return key && key == FileKeyOf(b);
}

}  // namespace mpsbatch
