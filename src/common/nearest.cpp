#include "common/nearest.h"

#include <algorithm>
#include <utility>

namespace mpsbatch {

size_t EditDistance(const std::string& a, const std::string& b) {
  // Three rows: a transposition looks two characters back.
  std::vector<size_t> before(b.size() + 1), prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) cur[j] = std::min(cur[j], before[j - 2] + 1);
    }
    std::swap(before, prev);
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::optional<std::string> Nearest(const std::string& name, const std::vector<std::string>& candidates,
                                   size_t max_distance) {
  // By distance, then preferring a match of the whole name to one of its
  // last component.
  std::optional<std::string> best;
  std::pair<size_t, size_t> best_key{max_distance + 1, 0};
  for (const auto& candidate : candidates) {
    const size_t whole = EditDistance(name, candidate);
    size_t d = whole;
    for (size_t slash = candidate.find('/'); slash != std::string::npos; slash = candidate.find('/', slash + 1))
      d = std::min(d, EditDistance(name, candidate.substr(slash + 1)));
    const std::pair<size_t, size_t> key{d, whole};
    if (d <= max_distance && key < best_key) {
      best_key = key;
      best = candidate;
    }
  }
  return best;
}

}  // namespace mpsbatch
