// Input files whose rows live elsewhere, made with HDF5's C API for the tests
// of read/input_sources.h: datasets behind external links, virtual datasets
// (VDS) over source files, external raw storage.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "hdf5/handle.h"

namespace mpsbatch::testing {

inline H5Handle OpenOrCreate(const std::string& path) {
  return H5Handle(std::filesystem::exists(path) ? H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT)
                                                : H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT),
                  H5Fclose);
}

// Dataset `name` of `rows` x `cols` float32, element i holding first + i;
// written again in place if it exists.
inline void WriteFloatRows(const std::string& path, const std::string& name, hsize_t rows, hsize_t cols,
                           float first = 0, hid_t dcpl = H5P_DEFAULT) {
  H5Handle file = OpenOrCreate(path);
  ASSERT_TRUE(file.valid()) << path;
  const hsize_t dims[2] = {rows, cols};
  H5Handle space(H5Screate_simple(2, dims, nullptr), H5Sclose);
  H5Handle ds(H5Lexists(file.get(), name.c_str(), H5P_DEFAULT) > 0
                  ? H5Dopen2(file.get(), name.c_str(), H5P_DEFAULT)
                  : H5Dcreate2(file.get(), name.c_str(), H5T_IEEE_F32LE, space.get(), H5P_DEFAULT, dcpl, H5P_DEFAULT),
              H5Dclose);
  ASSERT_TRUE(ds.valid()) << Hdf5Message();
  std::vector<float> values(rows * cols);
  for (size_t i = 0; i < values.size(); ++i) values[i] = first + static_cast<float>(i);
  ASSERT_GE(H5Dwrite(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), 0) << Hdf5Message();
}

// A virtual dataset `name` in `path` of `rows` x `cols` float32 whose rows
// come, in equal runs, from each (file, dataset) of `sources` ("." is `path`).
inline void MakeVirtual(const std::string& path, const std::string& name, hsize_t rows, hsize_t cols,
                        const std::vector<std::pair<std::string, std::string>>& sources) {
  const hsize_t dims[2] = {rows, cols}, each[2] = {rows / sources.size(), cols};
  H5Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  for (size_t i = 0; i < sources.size(); ++i) {
    H5Handle vspace(H5Screate_simple(2, dims, nullptr), H5Sclose);
    const hsize_t start[2] = {i * each[0], 0};
    H5Sselect_hyperslab(vspace.get(), H5S_SELECT_SET, start, nullptr, each, nullptr);
    H5Handle sspace(H5Screate_simple(2, each, nullptr), H5Sclose);
    ASSERT_GE(
        H5Pset_virtual(dcpl.get(), vspace.get(), sources[i].first.c_str(), sources[i].second.c_str(), sspace.get()), 0)
        << Hdf5Message();
  }
  H5Handle file = OpenOrCreate(path);
  H5Handle space(H5Screate_simple(2, dims, nullptr), H5Sclose);
  H5Handle ds(H5Dcreate2(file.get(), name.c_str(), H5T_IEEE_F32LE, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
              H5Dclose);
  ASSERT_TRUE(ds.valid()) << Hdf5Message();
}

// Dataset `name` in `path` whose raw rows are kept in the plain file
// `raw_file` (a name relative to the current folder, as HDF5 reads it).
inline void MakeExternal(const std::string& path, const std::string& name, hsize_t rows, hsize_t cols,
                         const std::string& raw_file) {
  H5Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  ASSERT_GE(H5Pset_external(dcpl.get(), raw_file.c_str(), 0, rows * cols * sizeof(float)), 0);
  WriteFloatRows(path, name, rows, cols, 0, dcpl.get());
}

// link.h5 holding `d` (1000 x 4 float32 whose middle rows are -1, first and
// last rows those of target.h5's `x`) and an external link `x` to target.h5's
// `x`, which lies at the very offset where link.h5 keeps `d`: reading link.h5
// at that offset would pass a check of the first and last rows and return
// `d`'s middle rows. Returns the link file's path.
inline std::string LinkOverATwin(const std::filesystem::path& dir) {
  const std::string target = (dir / "target.h5").string(), link = (dir / "link.h5").string();
  WriteFloatRows(target, "x", 1000, 4);
  WriteFloatRows(link, "d", 1000, 4);
  H5Handle file(H5Fopen(link.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose);
  H5Handle d(H5Dopen2(file.get(), "d", H5P_DEFAULT), H5Dclose);
  H5Handle space(H5Dget_space(d.get()), H5Sclose);
  const hsize_t start[2] = {1, 0}, count[2] = {998, 4};
  H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr);
  H5Handle mem(H5Screate_simple(2, count, nullptr), H5Sclose);
  const std::vector<float> other(998 * 4, -1.0f);
  EXPECT_GE(H5Dwrite(d.get(), H5T_NATIVE_FLOAT, mem.get(), space.get(), H5P_DEFAULT, other.data()), 0);
  EXPECT_GE(H5Lcreate_external("target.h5", "/x", file.get(), "x", H5P_DEFAULT, H5P_DEFAULT), 0);
  H5Handle x(H5Dopen2(file.get(), "x", H5P_DEFAULT), H5Dclose);
  EXPECT_EQ(H5Dget_offset(x.get()), H5Dget_offset(d.get()));  // what makes the wrong file look right
  return link;
}

}  // namespace mpsbatch::testing
