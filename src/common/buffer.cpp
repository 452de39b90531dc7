#include "common/buffer.h"

#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>

namespace mpsbatch {

namespace {

constexpr size_t kCachedFrom = size_t{1} << 20;      // smaller blocks go to malloc as they are
constexpr size_t kGranule = size_t{1} << 20;         // cached sizes round up to whole MiB
constexpr size_t kCachedBytesMax = size_t{1} << 30;  // per process
// Page-locked memory a process takes from the BlockSource, live and cached:
// past this, blocks come from malloc (rank 0 of a scatter job holds every
// rank's messages; pinned memory cannot be paged out).
constexpr size_t kSourcedBytesMax = size_t{2} << 30;

struct Cache {
  std::mutex mutex;
  std::multimap<size_t, void*> free;  // rounded size -> block
  size_t bytes = 0;
  BlockSource* source = nullptr;
  std::map<uintptr_t, size_t> sourced;  // blocks the source gave: start -> size
  size_t sourced_bytes = 0;
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
    BlockSource* source = nullptr;
    {
      std::lock_guard<std::mutex> lock(c.mutex);
      if (auto it = c.free.find(size); it != c.free.end()) {
        void* block = it->second;
        c.free.erase(it);
        c.bytes -= size;
        return block;
      }
      if (c.source && c.sourced_bytes + size <= kSourcedBytesMax) {
        source = c.source;
        c.sourced_bytes += size;  // reserved; given back if the source fails
      }
    }
    if (source) {
      // Outside the lock: pinning tens of MiB takes milliseconds, while other
      // threads release blocks and ask FromBlockSource.
      void* block = source->Allocate(size);
      std::lock_guard<std::mutex> lock(c.mutex);
      if (block) {
        c.sourced.emplace(reinterpret_cast<uintptr_t>(block), size);
        return block;
      }
      c.sourced_bytes -= size;
    }
  }
  void* block = std::malloc(size == 0 ? 1 : size);
  if (!block) throw std::bad_alloc();
  return block;
}

void ReleaseBlock(void* block, size_t bytes) noexcept {
  if (!block) return;
  const size_t size = Rounded(bytes);
  BlockSource* source = nullptr;
  if (size >= kCachedFrom) {
    Cache& c = TheCache();
    std::lock_guard<std::mutex> lock(c.mutex);
    if (c.bytes + size <= kCachedBytesMax) {
      c.free.emplace(size, block);
      c.bytes += size;
      return;
    }
    if (c.sourced.erase(reinterpret_cast<uintptr_t>(block)) > 0) {
      c.sourced_bytes -= size;
      source = c.source;
    }
  }
  // Outside the lock: cudaFreeHost may wait for the device.
  if (source) {
    source->Free(block);
  } else {
    std::free(block);
  }
}

void SetBlockSource(BlockSource& source) {
  Cache& c = TheCache();
  std::lock_guard<std::mutex> lock(c.mutex);
  if (c.source) return;
  c.source = &source;
  // Blocks cached so far came from malloc: let the source serve those sizes.
  for (auto& [size, block] : c.free) std::free(block);
  c.free.clear();
  c.bytes = 0;
}

bool FromBlockSource(const void* data, size_t bytes) {
  const auto begin = reinterpret_cast<uintptr_t>(data);
  Cache& c = TheCache();
  std::lock_guard<std::mutex> lock(c.mutex);
  auto it = c.sourced.upper_bound(begin);  // the first block starting after `data`
  if (it == c.sourced.begin() || bytes == 0) return false;
  --it;
  return begin - it->first <= it->second && bytes <= it->second - (begin - it->first);
}

}  // namespace mpsbatch
