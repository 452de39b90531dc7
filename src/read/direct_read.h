// Reading a dataset's rows straight from the file, beside HDF5.
//
// HDF5 reads on one thread per process (its library lock), and a chunk smaller
// than its chunk cache (1 MiB by default) is copied twice: into the cache,
// then out. Where a dataset's bytes on disk are exactly its rows in memory
// (contiguous or chunked by whole rows, no filters, the native type and byte
// order), RowLocator finds the byte ranges of a row range through HDF5's
// metadata, and ReadRanges reads them with pread from several threads, which
// is faster than HDF5's single-threaded copies (docs/performance.md has the
// figures). Every other layout is read through HDF5.
//
// A chunked dataset's chunk addresses are read once, in one pass over HDF5's
// chunk index (H5Dchunk_iter, HDF5 1.10.10, 1.12.3 and later), into a table
// that later reads consult without HDF5. Older HDF5 has only
// H5Dget_chunk_info_by_coord, which walks the index from its start on every
// call: its cost grows with the chunk's position (0.2-0.9 ms per lookup at
// the 20,000th chunk, scripts/bench/chunk_lookup.sh), so there a dataset of more than kLookupChunksMax
// chunks is read through HDF5, whose own reads look chunks up by key.
#pragma once

#include <hdf5.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/dtype.h"
#include "common/thread_pool.h"
#include "common/unique_fd.h"

namespace mpsbatch {

// `bytes` bytes at file offset `offset`, for destination offset `dest`.
struct FileRange {
  uint64_t offset = 0;
  size_t bytes = 0;
  size_t dest = 0;
};

class RowLocator {
 public:
  // A locator for `dataset` (of `dtype` and `shape`, as InputFile described
  // it), or nullopt with the reason in *why_not when its layout needs HDF5's
  // reading: compressed or filtered, a stored type other than the native one,
  // compact or external storage, chunks that split rows, no data written yet.
  static std::optional<RowLocator> For(hid_t dataset, DType dtype, const Shape& shape, std::string* why_not);

  // Appends the file ranges of rows [begin, end) to *out, destination offsets
  // counted from row `begin`. Returns false when a chunk they touch was never
  // written (HDF5 supplies its fill value), leaving *out as it found it.
  // Without a chunk table it looks chunks up through HDF5: call it, like For,
  // where HDF5 may be called (hdf5/handle.h's lock). With one, or for a
  // contiguous dataset, it calls no HDF5 (NeedsHdf5() is false).
  bool Locate(hid_t dataset, int64_t begin, int64_t end, std::vector<FileRange>* out);
  bool NeedsHdf5() const { return chunk_rows_ > 0 && chunk_table_.empty(); }

  // Chunked datasets of more chunks than this are read through HDF5 where
  // the HDF5 library has no H5Dchunk_iter (see above).
  static constexpr int64_t kLookupChunksMax = 1024;

  // "contiguous" or "chunks of N rows".
  std::string Describe() const;

 private:
  RowLocator() = default;
  std::optional<uint64_t> ChunkAddress(hid_t dataset, int64_t chunk);

  size_t row_bytes_ = 0;
  int rank_ = 1;
  uint64_t offset_ = 0;                                    // contiguous: where row 0 starts
  int64_t chunk_rows_ = 0;                                 // chunked: rows per chunk; 0 = contiguous
  uint64_t chunk_base_ = 0;                                // added to the chunk addresses HDF5 reports
  std::unordered_map<int64_t, uint64_t> chunk_addresses_;  // looked up so far (no chunk table)
  std::vector<uint64_t> chunk_table_;  // chunk index -> address, kNoChunk if unwritten; empty: look up
};

// True where the HDF5 library lists a dataset's chunks in one pass
// (H5Dchunk_iter): then chunked datasets of any chunk count are read directly.
bool Hdf5ListsChunks();

// An open file descriptor for reading, closed on destruction.
class ReadOnlyFile {
 public:
  // Throws InputError naming `path`.
  explicit ReadOnlyFile(const std::string& path);
  // A descriptor of its own for the file open as `fd` (HDF5's, so that rows
  // are read from the very file HDF5 reads), named `path` in messages.
  // Throws InputError.
  ReadOnlyFile(int fd, const std::string& path);
  ReadOnlyFile(const ReadOnlyFile&) = delete;
  ReadOnlyFile& operator=(const ReadOnlyFile&) = delete;

  // Reads every range into dest + range.dest, on the caller's thread and, for
  // reads of 8 MiB and more, `helpers`' threads (none when null). `beside`,
  // if given, runs once: on a helper thread while the caller reads a read
  // below 8 MiB (its argument turns true once the bytes are read), else on
  // the caller's thread after the read. Throws InputError naming the file on
  // a failed or short read. Thread-safe.
  using Beside = std::function<void(const std::atomic<bool>& read)>;
  void ReadRanges(std::vector<FileRange> ranges, std::byte* dest, ThreadPool* helpers = nullptr,
                  const Beside& beside = {}) const;

 private:
  void ReadAll(const FileRange& r, std::byte* dest) const;

  std::string path_;
  UniqueFd fd_;
};

}  // namespace mpsbatch
