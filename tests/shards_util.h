// A dataset cut into shards, as producers write them: consecutive runs of a
// source dataset's rows, each in a file of its own, made with HDF5's C API for
// the tests of read/input_set.h and the end-to-end runs over many files.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "hdf5/handle.h"
#include "hdf5/types.h"
#include "read/input_file.h"

namespace mpsbatch::testing {

// Writes rows [first, first + rows) of `info` (read from `source`) as dataset
// `info.name` of a new file at `path`, stored as `stored` (HDF5 converts).
inline void WriteRowsAs(InputFile& source, const DatasetInfo& info, int64_t first, int64_t rows,
                        const std::string& path, DType stored) {
  HostArray a = source.ReadRows(info, first, first + rows);
  H5Handle file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
  ASSERT_TRUE(file.valid()) << path;
  std::vector<hsize_t> dims(info.shape.begin(), info.shape.end());
  dims[0] = static_cast<hsize_t>(rows);
  H5Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
  H5Handle ds(H5Dcreate2(file.get(), info.name.c_str(), NativeH5Type(stored), space.get(), H5P_DEFAULT, H5P_DEFAULT,
                         H5P_DEFAULT),
              H5Dclose);
  ASSERT_TRUE(ds.valid()) << Hdf5Message();
  if (rows > 0) {
    ASSERT_GE(H5Dwrite(ds.get(), NativeH5Type(info.dtype), H5S_ALL, H5S_ALL, H5P_DEFAULT, a.bytes.data()), 0)
        << Hdf5Message();
  }
}

// Shards dir/part-0000.h5, part-0001.h5, ... of dataset `name` of `source`,
// `counts[i]` rows in shard i (consecutive rows from row 0), and the same rows
// in one file, dir/whole.h5. Returns the shards' paths.
inline std::vector<std::string> WriteShards(const std::string& source, const std::string& name,
                                            const std::filesystem::path& dir, const std::vector<int64_t>& counts) {
  InputFile in(source);
  const DatasetInfo info = in.Describe(name);
  std::vector<std::string> paths;
  int64_t first = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    char file[32];
    std::snprintf(file, sizeof file, "part-%04zu.h5", i);
    paths.push_back((dir / file).string());
    WriteRowsAs(in, info, first, counts[i], paths.back(), info.dtype);
    first += counts[i];
  }
  WriteRowsAs(in, info, 0, first, (dir / "whole.h5").string(), info.dtype);
  return paths;
}

}  // namespace mpsbatch::testing
