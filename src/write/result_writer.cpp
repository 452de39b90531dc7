#include "write/result_writer.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/error.h"

namespace fs = std::filesystem;

namespace mpsbatch {

std::string PartialPath(const std::string& final_path) { return final_path + ".partial"; }

void CheckOutputPath(const std::string& final_path, bool overwrite) {
  const fs::path p(final_path);
  if (fs::exists(p) && !overwrite)
    throw OutputError("output.path '" + final_path + "' exists; set output.overwrite: true to replace it");
  if (fs::is_directory(p)) throw OutputError("output.path '" + final_path + "' is a folder");
  const fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  if (!fs::is_directory(dir))
    throw OutputError("output.path '" + final_path + "': folder " + dir.string() + " does not exist");
  // Create and remove a file rather than ask access(): root passes access()
  // on folders where nothing can be created (sysfs, some read-only mounts).
  std::string probe = (dir / ".mpsbatch-probe-XXXXXX").string();
  const int fd = mkstemp(probe.data());
  if (fd < 0)
    throw OutputError("output.path '" + final_path + "': folder " + dir.string() +
                      " is not writable: " + std::strerror(errno));
  close(fd);
  unlink(probe.c_str());
}

ResultWriter::ResultWriter(const std::string& final_path, const std::vector<OutputSpec>& outputs, int64_t rows)
    : final_path_(final_path), partial_path_(PartialPath(final_path)), outputs_(outputs) {
  file_ = H5Handle(H5Fcreate(partial_path_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
  if (!file_.valid()) throw OutputError("cannot create " + partial_path_ + ": " + Hdf5Message());
  try {
    CreateDatasets(rows);
  } catch (...) {
    datasets_.clear();
    file_.Close();
    std::error_code ec;
    fs::remove(partial_path_, ec);
    throw;
  }
}

void ResultWriter::CreateDatasets(int64_t rows) {
  for (const auto& out : outputs_) {
    std::vector<hsize_t> dims{static_cast<hsize_t>(rows)};
    for (int64_t d : out.row_shape) dims.push_back(static_cast<hsize_t>(d));
    // About 1 MiB per HDF5 chunk: large enough for fast writes, small enough
    // that partial reads of the output stay cheap.
    std::vector<hsize_t> chunk = dims;
    const size_t row_bytes = std::max<size_t>(1, out.row_bytes());
    chunk[0] = std::clamp<hsize_t>((1u << 20) / row_bytes, 1, std::max<hsize_t>(1, dims[0]));
    H5Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
    H5Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    if (out.row_bytes() > 0) H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data());
    H5Handle ds(H5Dcreate2(file_.get(), out.name.c_str(), NativeH5Type(out.dtype), space.get(), H5P_DEFAULT, dcpl.get(),
                           H5P_DEFAULT),
                H5Dclose);
    if (!ds.valid()) throw OutputError(partial_path_ + ": cannot create dataset '" + out.name + "': " + Hdf5Message());
    datasets_.push_back(std::move(ds));
  }
}

ResultWriter::~ResultWriter() {
  if (committed_) return;
  datasets_.clear();
  file_.Close();
  std::error_code ec;
  fs::remove(partial_path_, ec);
}

void ResultWriter::WriteRows(size_t index, int64_t begin, int64_t count, const std::byte* data) {
  MPSBATCH_ASSERT(index < outputs_.size());
  if (count == 0) return;
  const auto& out = outputs_[index];
  hid_t ds = datasets_[index].get();
  H5Handle file_space(H5Dget_space(ds), H5Sclose);
  std::vector<hsize_t> start(out.row_shape.size() + 1, 0), extent{static_cast<hsize_t>(count)};
  for (int64_t d : out.row_shape) extent.push_back(static_cast<hsize_t>(d));
  start[0] = static_cast<hsize_t>(begin);
  H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, extent.data(), nullptr);
  H5Handle mem_space(H5Screate_simple(static_cast<int>(extent.size()), extent.data(), nullptr), H5Sclose);
  if (H5Dwrite(ds, NativeH5Type(out.dtype), mem_space.get(), file_space.get(), H5P_DEFAULT, data) < 0)
    throw OutputError(partial_path_ + ": writing rows " + std::to_string(begin) + ".." + std::to_string(begin + count) +
                      " of '" + out.name + "' failed: " + Hdf5Message());
}

void ResultWriter::SetAttribute(const std::string& name, const std::string& value) {
  H5Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  H5Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  H5Handle attr(H5Acreate2(file_.get(), name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  const char* ptr = value.c_str();
  if (!attr.valid() || H5Awrite(attr.get(), type.get(), &ptr) < 0)
    throw OutputError(partial_path_ + ": cannot write attribute '" + name + "': " + Hdf5Message());
}

void ResultWriter::SetAttribute(const std::string& name, int64_t value) {
  H5Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  H5Handle attr(H5Acreate2(file_.get(), name.c_str(), H5T_NATIVE_INT64, space.get(), H5P_DEFAULT, H5P_DEFAULT),
                H5Aclose);
  if (!attr.valid() || H5Awrite(attr.get(), H5T_NATIVE_INT64, &value) < 0)
    throw OutputError(partial_path_ + ": cannot write attribute '" + name + "': " + Hdf5Message());
}

void ResultWriter::Commit(bool overwrite) {
  MPSBATCH_ASSERT(!committed_);
  for (auto& ds : datasets_)
    if (ds.Close() < 0) throw OutputError(partial_path_ + ": closing a dataset failed: " + Hdf5Message());
  if (H5Fflush(file_.get(), H5F_SCOPE_GLOBAL) < 0 || file_.Close() < 0)
    throw OutputError(partial_path_ + ": flushing the file failed: " + Hdf5Message());
  if (overwrite) {
    if (std::rename(partial_path_.c_str(), final_path_.c_str()) != 0)
      throw OutputError("cannot rename " + partial_path_ + " to " + final_path_ + ": " + std::strerror(errno));
  } else {
    // link() refuses an existing target, so a file that appeared during the
    // run is never replaced.
    if (link(partial_path_.c_str(), final_path_.c_str()) != 0)
      throw OutputError("cannot move " + partial_path_ + " to " + final_path_ + ": " + std::strerror(errno) +
                        (errno == EEXIST ? " (it appeared during the run; set output.overwrite: true)" : ""));
    std::remove(partial_path_.c_str());
  }
  committed_ = true;
}

}  // namespace mpsbatch
