#include "run/calibration_cache.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <system_error>

#if defined(__APPLE__)
#include <sys/sysctl.h>
#endif

#include "common/sha256.h"

namespace mpsbatch {

namespace {

namespace fs = std::filesystem;

constexpr const char* kHeader = "mpsbatch calibration 1\n";
constexpr const char* kSeparator = "--\n";

}  // namespace

CalibrationCache::CalibrationCache(std::string folder, std::string key)
    : folder_(std::move(folder)), key_(std::move(key)) {
  if (enabled()) file_ = (fs::path(folder_) / (Sha256Hex(key_).substr(0, 32) + ".txt")).string();
}

std::optional<CachedCalibration> CalibrationCache::Load() const {
  if (!enabled()) return std::nullopt;
  std::ifstream in(file_, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  const std::string expected = kHeader + key_ + kSeparator;
  if (text.compare(0, expected.size(), expected) != 0) return std::nullopt;
  CachedCalibration entry;
  std::istringstream values(text.substr(expected.size()));
  bool complete = false;
  for (std::string line; std::getline(values, line);) {
    const size_t eq = line.find('=');
    if (eq == std::string::npos) return std::nullopt;
    const std::string name = line.substr(0, eq), value = line.substr(eq + 1);
    if (name == "batch_size") {
      try {
        entry.batch_size = std::stoll(value);
      } catch (const std::exception&) {
        return std::nullopt;
      }
    } else if (name == "path") {
      entry.path = value;
    } else if (name == "summary") {
      entry.summary = value;
    } else if (name == "end") {
      complete = true;
    }
  }
  if (!complete || entry.batch_size < 1 || entry.path.empty()) return std::nullopt;
  return entry;
}

std::string CalibrationCache::Store(const CachedCalibration& entry) const {
  if (!enabled()) return "";
  std::error_code ec;
  fs::create_directories(folder_, ec);
  if (ec) return "cannot create " + folder_ + ": " + ec.message();
  std::string summary = entry.summary;
  for (char& c : summary)
    if (c == '\n' || c == '\r') c = ' ';
  // A name of this process's own, then an atomic rename over the entry.
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  const std::string temp =
      file_ + "." + host + "." + std::to_string(::getpid()) + "." + std::to_string(std::random_device{}()) + ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << kHeader << key_ << kSeparator << "batch_size=" << entry.batch_size << "\npath=" << entry.path
        << "\nsummary=" << summary << "\nend=\n";
    out.close();
    if (!out) {
      fs::remove(temp, ec);
      return "cannot write " + temp;
    }
  }
  fs::rename(temp, file_, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(temp, ignored);
    return "cannot write " + file_ + ": " + ec.message();
  }
  return "";
}

std::string DefaultCalibrationCacheFolder() {
  fs::path base;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    base = xdg;
  else if (const char* home = std::getenv("HOME"); home && *home)
    base = fs::path(home) / ".cache";
  else
    return "";
  return (base / "mpsbatch" / "calibration").string();
}

std::string HostProcessorModel() {
#if defined(__APPLE__)
  char name[256] = {};
  size_t size = sizeof name - 1;
  if (sysctlbyname("machdep.cpu.brand_string", name, &size, nullptr, 0) == 0) return name;
  return "";
#else
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0)
      if (const size_t value = line.find_first_not_of(" \t", line.find(':') + 1);
          line.find(':') != std::string::npos && value != std::string::npos)
        return line.substr(value);
  return "";
#endif
}

}  // namespace mpsbatch
