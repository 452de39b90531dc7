#include "common/fault.h"

#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "common/error.h"

namespace mpsbatch {

namespace {

std::atomic<int> g_rank{0};

struct FaultSpec {
  std::string point, rank = "*", kind = "internal";
};

// MPSBATCH_FAIL_AT, read once.
const FaultSpec* Spec() {
  static const FaultSpec* spec = []() -> const FaultSpec* {
    const char* text = std::getenv("MPSBATCH_FAIL_AT");
    if (!text || !*text) return nullptr;
    auto* s = new FaultSpec;  // lives as long as the process
    const std::string all(text);
    const size_t first = all.find(':');
    s->point = all.substr(0, first);
    if (first != std::string::npos) {
      const size_t second = all.find(':', first + 1);
      s->rank = all.substr(first + 1, second == std::string::npos ? std::string::npos : second - first - 1);
      if (second != std::string::npos) s->kind = all.substr(second + 1);
    }
    return s;
  }();
  return spec;
}

[[noreturn]] void Throw(const std::string& kind, const std::string& message) {
  if (kind == "std") throw std::runtime_error(message);
  if (kind == "foreign") throw 42;  // NOLINT: deliberately not a std::exception
  if (kind == "config") throw ConfigError(message);
  if (kind == "input") throw InputError(message);
  if (kind == "model") throw ModelError(message);
  if (kind == "device") throw DeviceError(message);
  if (kind == "output") throw OutputError(message);
  if (kind == "comm") throw CommError(message);
  throw InternalError(message);
}

}  // namespace

void SetFaultRank(int rank) { g_rank.store(rank); }

void FaultPoint(std::string_view point) {
  const FaultSpec* spec = Spec();
  if (!spec || spec->point != point) return;
  const int rank = g_rank.load();
  if (spec->rank != "*" && spec->rank != std::to_string(rank)) return;
  Throw(spec->kind, "injected failure at " + std::string(point) + " on rank " + std::to_string(rank) +
                        " (MPSBATCH_FAIL_AT=" + std::getenv("MPSBATCH_FAIL_AT") + ")");
}

}  // namespace mpsbatch
