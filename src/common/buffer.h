// Host buffers for rows: never zero-filled, and large ones are reused.
//
// Rows travel in buffers of tens of MiB (a chunk's inputs, its outputs, an MPI
// message), allocated and freed at a steady rate. Memory fresh from the kernel
// costs a page fault per 4 KiB on first touch, and a value-initialised vector
// touches all of it once more to zero it: together a larger share of rank 0's
// time than reading the rows from HDF5 (docs/performance.md).
// ReusingAllocator default-initialises (no zeroing) and keeps freed blocks of
// 1 MiB and up in a per-process cache, up to kCachedBytesMax in all, handing
// them back to the next request of the same rounded size.
//
// The cache knows nothing of devices: whoever owns a better kind of host
// memory hands it a BlockSource. The CUDA engine does when it is created
// (infer/torch_engine.cpp), with page-locked memory (infer/cuda_graph.h's
// PinnedHostBlocks), so that rows read into those blocks go to the GPU by DMA,
// with no staging copy. The cache calls the source, rather than taking blocks
// from an allocator the engine owns, because every buffer of the process
// draws on the one cache, on whichever thread allocates (a reader thread
// fills a chunk's block before the engine sees it), and ReusingAllocator stays
// stateless: a vector of rows costs no more than a plain one. Calling the
// source costs what a function pointer did, one indirect call per block the
// cache does not hold.
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace mpsbatch {

// A block of at least `bytes` bytes, from the cache when one of that size is
// there. Throws std::bad_alloc.
void* AcquireBlock(size_t bytes);
// Returns a block from AcquireBlock(bytes) to the cache, or frees it.
void ReleaseBlock(void* block, size_t bytes) noexcept;

// Where blocks of 1 MiB and up come from once set, instead of malloc.
class BlockSource {
 public:
  // A block of `bytes` bytes, or nullptr when it cannot (malloc then serves).
  // Called on whichever thread acquires the block, outside the cache's lock.
  virtual void* Allocate(size_t bytes) = 0;
  // Takes back a block that Allocate gave.
  virtual void Free(void* block) = 0;

 protected:
  ~BlockSource() = default;
};
// Makes `source` serve the blocks acquired from now on; blocks acquired
// before stay as they are. Once per process: later calls do nothing. `source`
// must live as long as the process (blocks are released during exit too).
void SetBlockSource(BlockSource& source);
// True if [data, data + bytes) lies inside one block that the BlockSource
// gave (bytes > 0).
bool FromBlockSource(const void* data, size_t bytes);

template <typename T>
struct ReusingAllocator {
  using value_type = T;

  ReusingAllocator() = default;
  template <typename U>
  ReusingAllocator(const ReusingAllocator<U>&) noexcept {}

  T* allocate(size_t n) { return static_cast<T*>(AcquireBlock(n * sizeof(T))); }
  void deallocate(T* p, size_t n) noexcept { ReleaseBlock(p, n * sizeof(T)); }

  // Default-initialise: std::vector<...>(n) leaves the bytes as they are.
  template <typename U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }

  friend bool operator==(const ReusingAllocator&, const ReusingAllocator&) { return true; }
};

using ByteBuffer = std::vector<std::byte, ReusingAllocator<std::byte>>;

}  // namespace mpsbatch
