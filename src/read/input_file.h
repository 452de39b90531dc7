// Reads the input HDF5 file: dataset metadata for the plan, and row ranges
// (hyperslabs along the first dimension) for the chunks. Holds its datasets
// open between reads. Rows of datasets stored as they lie in memory are read
// straight from the file on several threads (direct_read.h), the rest through
// HDF5. Not thread-safe (see hdf5/handle.h).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/dtype.h"
#include "hdf5/handle.h"
#include "read/direct_read.h"
#include "read/input_sources.h"

namespace mpsbatch {

struct DatasetInfo {
  std::string name;
  DType dtype = DType::kFloat32;
  Shape shape;  // shape[0] is the number of rows

  Shape row_shape() const { return Shape(shape.begin() + 1, shape.end()); }
  size_t row_bytes() const { return static_cast<size_t>(NumElements(row_shape())) * DTypeSize(dtype); }
};

struct ReadOptions {
  bool direct = true;  // read rows straight from the file where the layout allows
  int threads = 1;     // threads per direct read
};

// The threads beside the caller's that direct reads use (ReadOptions::threads
// - 1), started at the first read that asks for them and joined when the last
// file holding them goes. The files of one input share one: starting and
// joining threads for each of thousands of small files took longer than
// reading them. Thread-safe.
class ReadHelpers {
 public:
  explicit ReadHelpers(int threads) : threads_(threads) {}
  // The pool, started on the first call; nullptr when there are no helpers.
  ThreadPool* Get();

 private:
  const int threads_;
  std::once_flag started_;
  std::unique_ptr<ThreadPool> pool_;
};

class InputFile {
 public:
  // Opens `path` read-only. Direct reads use `helpers` (their own, started
  // at the first, when null). Throws InputError naming the path.
  explicit InputFile(const std::string& path, ReadOptions options = {}, std::shared_ptr<ReadHelpers> helpers = nullptr);

  // Throws InputError if the dataset is missing, is not a dataset, holds an
  // unsupported type, or is a scalar.
  DatasetInfo Describe(const std::string& dataset);

  // Reads rows [begin, end) into `out` (which must hold (end-begin) rows of
  // `info`'s row size). Throws InputError. Holds Hdf5Mutex() over its HDF5
  // calls, so one thread may read while another writes the output.
  // `beside`, if given, runs once without that lock (it may call HDF5,
  // holding the lock as every caller does): on a helper thread while this
  // thread reads rows read directly (ReadOnlyFile::ReadRanges), else on
  // this thread after the read.
  void ReadRows(const DatasetInfo& info, int64_t begin, int64_t end, std::byte* out,
                const ReadOnlyFile::Beside& beside = {});
  HostArray ReadRows(const DatasetInfo& info, int64_t begin, int64_t end);

  // Readies reading `info`'s rows (the check of its direct reading), so that
  // its first read starts at once. Holds Hdf5Mutex(). Throws InputError.
  void Prepare(const DatasetInfo& info);

  // The files other than path() that the rows of `dataset` come from (see
  // read/input_sources.h). Throws InputError if one is missing.
  std::vector<SourceFile> SourceFiles(const std::string& dataset);

  // How rows of `info` are read, for the log: "directly (chunks of 6 rows,
  // 4 threads)" or "through HDF5 (compressed or filtered)".
  std::string ReadMethod(const DatasetInfo& info);

  const std::string& path() const { return path_; }

  // Every dataset in the file, by its path from the root ("images",
  // "group/labels"), in HDF5's name order. For messages: what fails to be
  // listed is left out.
  std::vector<std::string> DatasetNames();

 private:
  struct Open {
    H5Handle id;
    bool checked = false;  // has the direct path been looked at?
    std::optional<RowLocator> direct;
    std::shared_ptr<ReadOnlyFile> raw;  // the file holding its rows, for the direct path
    std::string why_not;                // when there is no direct path
  };

  Open& Dataset(const std::string& name);
  // The dataset's locator, once its direct reading has been checked against
  // HDF5's on its first, middle and last rows; nullptr when HDF5 must read it.
  RowLocator* Direct(const DatasetInfo& info, Open& ds);
  // Opens `name` again without HDF5's chunk cache, once its rows are to be
  // read directly: HDF5 reads a chunk into its cache whole to hand out one
  // row, so the check of the direct reading read three chunks through HDF5
  // (with thousands of small files, about as much as their rows); uncached,
  // HDF5 reads just the rows asked for. HDF5 itself then reads only chunks
  // never written (fill values). Throws InputError.
  void ForgoChunkCache(const std::string& name, Open& ds);
  // The file HDF5 reads `dataset`'s rows from, open for direct reads: behind
  // an external link, the link's target. nullptr (with *why_not) when HDF5
  // reads it through a driver other than its default one.
  std::shared_ptr<ReadOnlyFile> RawFileOf(hid_t dataset, std::string* why_not);
  void ReadThroughHdf5(const DatasetInfo& info, hid_t ds, int64_t begin, int64_t end, std::byte* out);

  std::string path_;
  ReadOptions options_;
  H5Handle file_;
  std::map<std::string, Open> datasets_;
  // The files direct reads go to, by device and inode, opened at the first.
  std::map<std::pair<uint64_t, uint64_t>, std::shared_ptr<ReadOnlyFile>> raw_files_;
  std::shared_ptr<ReadHelpers> read_helpers_;
};

}  // namespace mpsbatch
