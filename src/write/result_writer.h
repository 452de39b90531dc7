// Writes the results: one chunked dataset per model output in a file that
// carries a temporary name until Commit() renames it into place, so a failed
// run never leaves a file that looks complete. Rows may arrive in any order;
// the caller (rank 0's loop) guarantees each row range is written once.
// Not thread-safe (see read/hdf5_handle.h).
#pragma once

#include <string>
#include <vector>

#include "common/dtype.h"
#include "read/hdf5_handle.h"

namespace mpsbatch {

struct OutputSpec {
  std::string name;
  DType dtype = DType::kFloat32;
  Shape row_shape;  // per-row shape; the dataset is [rows] + row_shape

  size_t row_bytes() const { return static_cast<size_t>(NumElements(row_shape)) * DTypeSize(dtype); }
};

// The name a run writes under before it renames to `final_path`.
std::string PartialPath(const std::string& final_path);

// Throws OutputError if `final_path` exists and `overwrite` is false, or its
// folder is missing or not writable. Touches nothing.
void CheckOutputPath(const std::string& final_path, bool overwrite);

class ResultWriter {
 public:
  // Creates PartialPath(final_path), replacing any earlier partial file.
  // Throws OutputError naming the path.
  ResultWriter(const std::string& final_path, const std::vector<OutputSpec>& outputs, int64_t rows);
  ~ResultWriter();  // an uncommitted file is removed

  // Writes `count` rows of output `index` starting at row `begin`.
  void WriteRows(size_t index, int64_t begin, int64_t count, const std::byte* data);
  void SetAttribute(const std::string& name, const std::string& value);
  void SetAttribute(const std::string& name, int64_t value);

  // Closes the file and moves it to final_path: replacing an existing file only
  // if `overwrite`, otherwise failing (and leaving that file untouched).
  void Commit(bool overwrite);

  const std::string& partial_path() const { return partial_path_; }

 private:
  void CreateDatasets(int64_t rows);

  std::string final_path_;
  std::string partial_path_;
  std::vector<OutputSpec> outputs_;
  H5Handle file_;
  std::vector<H5Handle> datasets_;
  bool committed_ = false;
};

}  // namespace mpsbatch
