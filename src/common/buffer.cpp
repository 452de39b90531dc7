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
  BlockSource source;
  std::map<const std::byte*, size_t> sourced;  // blocks the source gave: start -> size
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
  if (size >= kCachedFrom) {
    Cache& c = TheCache();
    BlockSource source;
    {
      std::lock_guard<std::mutex> lock(c.mutex);
      source = c.source;
    }
    // Outside the lock: pinning tens of MiB takes milliseconds, while other
    // threads release blocks and ask FromBlockSource.
    if (void* block = source.allocate ? source.allocate(size) : nullptr) {
      std::lock_guard<std::mutex> lock(c.mutex);
      c.sourced.emplace(static_cast<const std::byte*>(block), size);
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
    if (c.sourced.erase(static_cast<const std::byte*>(block)) > 0) {
      c.source.free(block);
      return;
    }
  }
  std::free(block);
}

void SetBlockSource(const BlockSource& source) {
  Cache& c = TheCache();
  std::lock_guard<std::mutex> lock(c.mutex);
  if (c.source.allocate) return;
  c.source = source;
  // Blocks cached so far came from malloc: let the source serve those sizes.
  for (auto& [size, block] : c.free) std::free(block);
  c.free.clear();
  c.bytes = 0;
}

bool FromBlockSource(const void* data, size_t bytes) {
  const auto* begin = static_cast<const std::byte*>(data);
  Cache& c = TheCache();
  std::lock_guard<std::mutex> lock(c.mutex);
  auto it = c.sourced.upper_bound(begin);  // the first block starting after `data`
  if (it == c.sourced.begin() || bytes == 0) return false;
  --it;
  return begin + bytes <= it->first + it->second;
}

}  // namespace mpsbatch
