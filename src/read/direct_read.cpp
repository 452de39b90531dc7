#include "read/direct_read.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/error.h"
#include "hdf5/handle.h"
#include "hdf5/types.h"

namespace mpsbatch {

namespace {

// Reads below this stay on one thread; parts are at least half of it.
constexpr size_t kSplitBytes = size_t{8} << 20;

constexpr uint64_t kNoChunk = ~uint64_t{0};

#if H5_VERSION_GE(1, 12, 3) || (H5_VERS_MAJOR == 1 && H5_VERS_MINOR == 10 && H5_VERS_RELEASE >= 10)
#define MPSBATCH_HAVE_CHUNK_ITER 1
// Past this many chunks (128 MiB of table) a dataset is read through HDF5.
constexpr int64_t kTableChunksMax = int64_t{16} << 20;

struct TableBuild {
  std::vector<std::pair<hsize_t, uint64_t>> found;  // first coordinate, address
  hsize_t chunk_bytes = 0;
  bool odd = false;  // a chunk of another size or with a filter applied
};

int CollectChunk(const hsize_t* offset, unsigned filter_mask, haddr_t address, hsize_t size, void* data) {
  auto* build = static_cast<TableBuild*>(data);
  if (filter_mask != 0 || size != build->chunk_bytes || address == HADDR_UNDEF) build->odd = true;
  build->found.emplace_back(offset[0], address);
  return H5_ITER_CONT;
}

// Every chunk's address by chunk index, in one pass over the chunk index, or
// "" on success and the reason otherwise.
std::string ReadChunkTable(hid_t dataset, int64_t rows, int64_t chunk_rows, size_t row_bytes, uint64_t base,
                           std::vector<uint64_t>* table) {
  const int64_t chunks = (rows + chunk_rows - 1) / chunk_rows;
  if (chunks > kTableChunksMax) return std::to_string(chunks) + " chunks, too many to list";
  TableBuild build;
  build.chunk_bytes = static_cast<hsize_t>(chunk_rows) * row_bytes;
  if (H5Dchunk_iter(dataset, H5P_DEFAULT, CollectChunk, &build) < 0) {
    Hdf5Message();
    return "chunk index unreadable";
  }
  if (build.odd) return "a chunk of unexpected size";
  // The chunks' first coordinates, in elements: on the chunk grid. (Reading
  // three rows both ways checks the table too: InputFile.)
  table->assign(static_cast<size_t>(chunks), kNoChunk);
  for (const auto& [first, address] : build.found) {
    if (first % static_cast<hsize_t>(chunk_rows) != 0) return "a chunk off the chunk grid";
    const hsize_t index = first / static_cast<hsize_t>(chunk_rows);
    if (index >= table->size()) return "a chunk past the dataset's rows";
    (*table)[index] = base + address;
  }
  return "";
}
#endif

std::optional<std::string> LayoutProblem(hid_t dcpl, const Shape& shape, int64_t* chunk_rows) {
  switch (H5Pget_layout(dcpl)) {
    case H5D_CONTIGUOUS:
      if (H5Pget_external_count(dcpl) > 0) return "stored in external files";
      *chunk_rows = 0;
      return std::nullopt;
    case H5D_CHUNKED: {
#if H5_VERSION_GE(1, 10, 5)
      if (H5Pget_nfilters(dcpl) > 0) return "compressed or filtered";
      std::vector<hsize_t> dims(shape.size());
      if (H5Pget_chunk(dcpl, static_cast<int>(dims.size()), dims.data()) != static_cast<int>(dims.size()))
        return "chunk shape unreadable";
      for (size_t i = 1; i < dims.size(); ++i)
        if (static_cast<int64_t>(dims[i]) != shape[i]) return "chunks split its rows";
      *chunk_rows = static_cast<int64_t>(dims[0]);
      return std::nullopt;
#else
      return "chunk lookup needs HDF5 1.10.5 or later";
#endif
    }
    case H5D_COMPACT: return "compact storage";
    default: return "virtual or unknown layout";
  }
}

}  // namespace

bool Hdf5ListsChunks() {
#ifdef MPSBATCH_HAVE_CHUNK_ITER
  return true;
#else
  return false;
#endif
}

std::optional<RowLocator> RowLocator::For(hid_t dataset, DType dtype, const Shape& shape, std::string* why_not) {
  auto fail = [&](const std::string& reason) {
    Hdf5Message();  // clear whatever a failed query left
    *why_not = reason;
    return std::nullopt;
  };
  H5Handle type(H5Dget_type(dataset), H5Tclose);
  if (!type.valid() || H5Tequal(type.get(), NativeH5Type(dtype)) <= 0)
    return fail("stored type differs from the native one (size or byte order)");
  RowLocator loc;
  loc.rank_ = static_cast<int>(shape.size());
  loc.row_bytes_ = static_cast<size_t>(NumElements(Shape(shape.begin() + 1, shape.end()))) * DTypeSize(dtype);
  if (loc.row_bytes_ == 0 || shape[0] == 0) return fail("no rows");
  H5Handle dcpl(H5Dget_create_plist(dataset), H5Pclose);
  if (!dcpl.valid()) return fail("creation properties unreadable");
  if (auto problem = LayoutProblem(dcpl.get(), shape, &loc.chunk_rows_)) return fail(*problem);
#if !H5_VERSION_GE(1, 14, 4)
  // Before 1.14.4, chunk addresses leave out the user block (HDF5 pull
  // request 4236); H5Dget_offset always counted it.
  H5Handle file(H5Iget_file_id(dataset), H5Fclose);
  H5Handle fcpl(file.valid() ? H5Fget_create_plist(file.get()) : H5I_INVALID_HID, H5Pclose);
  hsize_t userblock = 0;
  if (!fcpl.valid() || H5Pget_userblock(fcpl.get(), &userblock) < 0) return fail("user block size unreadable");
  loc.chunk_base_ = userblock;
#endif
  if (loc.chunk_rows_ > 0) {
#ifdef MPSBATCH_HAVE_CHUNK_ITER
    if (const std::string problem =
            ReadChunkTable(dataset, shape[0], loc.chunk_rows_, loc.row_bytes_, loc.chunk_base_, &loc.chunk_table_);
        !problem.empty())
      return fail(problem);
#else
    const int64_t chunks = (shape[0] + loc.chunk_rows_ - 1) / loc.chunk_rows_;
    if (chunks > kLookupChunksMax)
      return fail(std::to_string(chunks) + " chunks, and HDF5 " + std::to_string(H5_VERS_MAJOR) + "." +
                  std::to_string(H5_VERS_MINOR) + "." + std::to_string(H5_VERS_RELEASE) +
                  " looks each up from the first: HDF5 1.10.10 or later reads them directly");
#endif
  } else {
    const haddr_t offset = H5Dget_offset(dataset);
    if (offset == HADDR_UNDEF) return fail("no data written yet");
    if (H5Dget_storage_size(dataset) < static_cast<hsize_t>(shape[0]) * loc.row_bytes_)
      return fail("storage smaller than its rows");
    loc.offset_ = offset;
  }
  return loc;
}

std::optional<uint64_t> RowLocator::ChunkAddress(hid_t dataset, int64_t chunk) {
  if (!chunk_table_.empty()) {
    if (chunk < 0 || static_cast<size_t>(chunk) >= chunk_table_.size()) return std::nullopt;
    const uint64_t address = chunk_table_[static_cast<size_t>(chunk)];
    return address == kNoChunk ? std::nullopt : std::optional<uint64_t>(address);
  }
  if (auto it = chunk_addresses_.find(chunk); it != chunk_addresses_.end()) return it->second;
#if H5_VERSION_GE(1, 10, 5)
  std::vector<hsize_t> coord(static_cast<size_t>(rank_), 0);
  coord[0] = static_cast<hsize_t>(chunk * chunk_rows_);
  unsigned filter_mask = 0;
  haddr_t address = HADDR_UNDEF;
  hsize_t size = 0;
  if (H5Dget_chunk_info_by_coord(dataset, coord.data(), &filter_mask, &address, &size) < 0) {
    Hdf5Message();
    return std::nullopt;
  }
  if (address == HADDR_UNDEF || size != static_cast<hsize_t>(chunk_rows_) * row_bytes_) return std::nullopt;
  // Only chunks that span two reads are looked up twice: keep a few.
  if (chunk_addresses_.size() >= 1024) chunk_addresses_.clear();
  chunk_addresses_.emplace(chunk, chunk_base_ + address);
  return chunk_base_ + address;
#else
  (void)dataset;
  return std::nullopt;
#endif
}

bool RowLocator::Locate(hid_t dataset, int64_t begin, int64_t end, std::vector<FileRange>* out) {
  if (begin >= end) return true;
  if (chunk_rows_ == 0) {
    out->push_back(
        {offset_ + static_cast<uint64_t>(begin) * row_bytes_, static_cast<size_t>(end - begin) * row_bytes_, 0});
    return true;
  }
  const size_t first = out->size();
  for (int64_t row = begin; row < end;) {
    const int64_t chunk = row / chunk_rows_;
    const int64_t within = row - chunk * chunk_rows_;
    const int64_t rows = std::min(end - row, chunk_rows_ - within);
    const auto address = ChunkAddress(dataset, chunk);
    if (!address) {
      out->resize(first);
      return false;
    }
    out->push_back({*address + static_cast<uint64_t>(within) * row_bytes_, static_cast<size_t>(rows) * row_bytes_,
                    static_cast<size_t>(row - begin) * row_bytes_});
    row += rows;
  }
  return true;
}

std::string RowLocator::Describe() const {
  return chunk_rows_ == 0 ? "contiguous" : "chunks of " + std::to_string(chunk_rows_) + " rows";
}

ReadOnlyFile::ReadOnlyFile(const std::string& path) : path_(path), fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
  if (!fd_) throw InputError(path + ": cannot open for reading: " + std::strerror(errno));
}

ReadOnlyFile::ReadOnlyFile(int fd, const std::string& path) : path_(path), fd_(::fcntl(fd, F_DUPFD_CLOEXEC, 0)) {
  if (!fd_) throw InputError(path + ": cannot open for reading: " + std::strerror(errno));
}

void ReadOnlyFile::ReadAll(const FileRange& r, std::byte* dest) const {
  size_t done = 0;
  while (done < r.bytes) {
    const ssize_t n = ::pread(fd_.get(), dest + r.dest + done, r.bytes - done, static_cast<off_t>(r.offset + done));
    if (n < 0 && errno == EINTR) continue;
    const std::string where =
        path_ + ": reading bytes " + std::to_string(r.offset) + ".." + std::to_string(r.offset + r.bytes);
    if (n < 0) throw InputError(where + " failed: " + std::strerror(errno));
    if (n == 0)
      throw InputError(where + ": the file ends at byte " + std::to_string(r.offset + done) + " (truncated?)");
    done += static_cast<size_t>(n);
  }
}

void ReadOnlyFile::ReadRanges(std::vector<FileRange> ranges, std::byte* dest, ThreadPool* helpers,
                              const Beside& beside) const {
  // Merge neighbours (rows of consecutive chunks often lie back to back).
  std::vector<FileRange> merged;
  size_t total = 0;
  for (const auto& r : ranges) {
    total += r.bytes;
    if (!merged.empty() && merged.back().offset + merged.back().bytes == r.offset &&
        merged.back().dest + merged.back().bytes == r.dest)
      merged.back().bytes += r.bytes;
    else
      merged.push_back(r);
  }
  const size_t threads = 1 + static_cast<size_t>(helpers ? helpers->size() : 0);
  const size_t parts = total < kSplitBytes ? 1 : std::clamp<size_t>(total / (kSplitBytes / 2), 1, threads);
  // Cut the ranges into `parts` runs of about equal bytes.
  std::vector<std::vector<FileRange>> work(parts);
  const size_t share = (total + parts - 1) / std::max<size_t>(parts, 1);
  size_t part = 0, filled = 0;
  for (FileRange r : merged) {
    while (r.bytes > 0) {
      const size_t take = part + 1 == parts ? r.bytes : std::min(r.bytes, share - filled);
      work[part].push_back({r.offset, take, r.dest});
      r.offset += take;
      r.dest += take;
      r.bytes -= take;
      filled += take;
      if (filled == share && part + 1 < parts) {
        ++part;
        filled = 0;
      }
    }
  }
  auto read = [&](size_t p) {
    for (const auto& r : work[p]) ReadAll(r, dest);
  };
  std::atomic<bool> done{false};
  if (parts == 1 && beside && helpers && helpers->size() > 0)
    return helpers->Beside(
        [&] {
          try {
            read(0);
          } catch (...) {
            done = true;
            throw;
          }
          done = true;
        },
        [&] { beside(done); });
  if (parts == 1)
    read(0);
  else
    helpers->ForEach(parts, read);
  done = true;
  if (beside) beside(done);
}

}  // namespace mpsbatch
