#include "common/buffer.h"

#include <cstdlib>
#include <map>
#include <mutex>

namespace mpsbatch {

namespace {

constexpr size_t kCachedFrom = size_t{1} << 20;      // smaller blocks go to malloc as they are
constexpr size_t kGranule = size_t{1} << 20;         // cached sizes round up to whole MiB
constexpr size_t kCachedBytesMax = size_t{1} << 30;  // per process

struct Cache {
  std::mutex mutex;
  std::multimap<size_t, void*> free;  // rounded size -> block
  size_t bytes = 0;
};

Cache& TheCache() {
  static Cache* cache = new Cache;  // never destroyed: blocks may be released during exit
  return *cache;
}

size_t Rounded(size_t bytes) { return bytes < kCachedFrom ? bytes : (bytes + kGranule - 1) / kGranule * kGranule; }

}  // namespace

void* AcquireBlock(size_t bytes) {
  const size_t size = Rounded(bytes);
  if (size >= kCachedFrom) {
    Cache& c = TheCache();
    std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.free.find(size);
    if (it != c.free.end()) {
      void* block = it->second;
      c.free.erase(it);
      c.bytes -= size;
      return block;
    }
  }
  void* block = std::malloc(size == 0 ? 1 : size);
  if (!block) throw std::bad_alloc();
  return block;
}

void ReleaseBlock(void* block, size_t bytes) noexcept {
  if (!block) return;
  const size_t size = Rounded(bytes);
  if (size >= kCachedFrom) {
    Cache& c = TheCache();
    std::lock_guard<std::mutex> lock(c.mutex);
    if (c.bytes + size <= kCachedBytesMax) {
      c.free.emplace(size, block);
      c.bytes += size;
      return;
    }
  }
  std::free(block);
}

}  // namespace mpsbatch
