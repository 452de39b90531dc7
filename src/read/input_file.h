// Reads the input HDF5 file: dataset metadata for the plan, and row ranges
// (hyperslabs along the first dimension) for the chunks. Holds its datasets
// open between reads. Not thread-safe (see hdf5_handle.h).
#pragma once

#include <map>
#include <string>

#include "common/dtype.h"
#include "read/hdf5_handle.h"

namespace mpsbatch {

struct DatasetInfo {
  std::string name;
  DType dtype = DType::kFloat32;
  Shape shape;  // shape[0] is the number of rows

  Shape row_shape() const { return Shape(shape.begin() + 1, shape.end()); }
  size_t row_bytes() const { return static_cast<size_t>(NumElements(row_shape())) * DTypeSize(dtype); }
};

class InputFile {
 public:
  // Opens `path` read-only. Throws InputError naming the path.
  explicit InputFile(const std::string& path);

  // Throws InputError if the dataset is missing, is not a dataset, holds an
  // unsupported type, or is a scalar.
  DatasetInfo Describe(const std::string& dataset);

  // Reads rows [begin, end) into `out` (which must hold (end-begin) rows of
  // `info`'s row size). Throws InputError.
  void ReadRows(const DatasetInfo& info, int64_t begin, int64_t end, std::byte* out);
  HostArray ReadRows(const DatasetInfo& info, int64_t begin, int64_t end);

  const std::string& path() const { return path_; }

 private:
  hid_t Dataset(const std::string& name);

  std::string path_;
  H5Handle file_;
  std::map<std::string, H5Handle> datasets_;
};

}  // namespace mpsbatch
