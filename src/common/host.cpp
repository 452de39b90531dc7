#include "common/host.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

namespace mpsbatch {

int HostCores() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

int UsableCores() {
  const int host = HostCores();
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::clamp(CPU_COUNT(&set), 1, host);
#endif
  return host;
}

std::optional<double> SecondsSinceProcessStart() {
#if defined(__linux__)
  std::ifstream stat("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto paren = text.rfind(')');  // the command name may hold spaces
  if (paren == std::string::npos || paren + 2 > text.size()) return std::nullopt;
  std::istringstream fields(text.substr(paren + 2));
  std::string skipped;
  for (int field = 3; field < 22; ++field) fields >> skipped;  // state .. itrealvalue
  unsigned long long start_ticks = 0;                          // field 22: starttime
  timespec now{};
  const long ticks_per_second = sysconf(_SC_CLK_TCK);
  if (!(fields >> start_ticks) || ticks_per_second <= 0 || clock_gettime(CLOCK_BOOTTIME, &now) != 0)
    return std::nullopt;
  return static_cast<double>(now.tv_sec) + now.tv_nsec * 1e-9 -
         static_cast<double>(start_ticks) / static_cast<double>(ticks_per_second);
#else
  return std::nullopt;
#endif
}

std::string Timestamp() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace mpsbatch
