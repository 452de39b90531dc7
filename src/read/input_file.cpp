#include "read/input_file.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <filesystem>

#include "common/error.h"
#include "common/nearest.h"
#include "hdf5/types.h"

namespace mpsbatch {

namespace {

std::string NonRegularFileKind(std::filesystem::file_type type) {
  switch (type) {
    case std::filesystem::file_type::directory: return "a folder";
    case std::filesystem::file_type::fifo: return "a FIFO (named pipe)";
    case std::filesystem::file_type::socket: return "a socket";
    case std::filesystem::file_type::character: return "a character device";
    case std::filesystem::file_type::block: return "a block device";
    default: return "a special file";
  }
}

// "the file holds 3 dataset(s): a, b, g/c", the first 20 of them.
std::string ListOfDatasets(const std::vector<std::string>& names, const std::string& holder = "the file") {
  if (names.empty()) return holder + " holds no datasets";
  std::string list = holder + " holds " + std::to_string(names.size()) + " dataset(s): ";
  constexpr size_t kShown = 20;
  for (size_t i = 0; i < std::min(names.size(), kShown); ++i) list += (i ? ", " : "") + names[i];
  if (names.size() > kShown) list += ", and " + std::to_string(names.size() - kShown) + " more";
  return list;
}

}  // namespace

std::vector<std::string> InputFile::DatasetNames() {
  std::vector<std::string> names;
  const auto visit = [](hid_t, const char* name, const H5O_info_t* info, void* data) -> herr_t {
    if (info->type == H5O_TYPE_DATASET) static_cast<std::vector<std::string>*>(data)->push_back(name);
    return 0;
  };
#if H5_VERSION_GE(1, 12, 0)
  const herr_t status = H5Ovisit3(file_.get(), H5_INDEX_NAME, H5_ITER_INC, visit, &names, H5O_INFO_BASIC);
#else
  const herr_t status = H5Ovisit2(file_.get(), H5_INDEX_NAME, H5_ITER_INC, visit, &names, H5O_INFO_BASIC);
#endif
  if (status < 0) Hdf5Message();  // a partial list still helps
  return names;
}

ThreadPool* ReadHelpers::Get() {
  if (threads_ < 1) return nullptr;
  std::call_once(started_, [this] { pool_ = std::make_unique<ThreadPool>(threads_); });
  return pool_.get();
}

InputFile::InputFile(const std::string& path, ReadOptions options, std::shared_ptr<ReadHelpers> helpers)
    : path_(path),
      options_(options),
      read_helpers_(helpers ? std::move(helpers) : std::make_shared<ReadHelpers>(options.threads - 1)) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (!fs::exists(status)) throw InputError("input.path '" + path + "': file not found");
  // Opening a FIFO would wait for a writer, and HDF5 needs to seek.
  if (!fs::is_regular_file(status))
    throw InputError("input.path '" + path + "': is " + NonRegularFileKind(status.type()) +
                     ", not a regular file: give the path of an HDF5 file");
  // Asked only once the open has failed: asking first would read every
  // file's superblock twice, which thousands of input files notice.
  file_ = H5Handle(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (file_.valid()) return;
  const std::string why = Hdf5Message();
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    Hdf5Message();
    throw InputError("input.path '" + path + "': not an HDF5 file");
  }
  throw InputError("input.path '" + path + "': cannot open: " + why);
}

InputFile::Open& InputFile::Dataset(const std::string& name) {
  auto it = datasets_.find(name);
  if (it != datasets_.end()) return it->second;
  // Asked why only once the open has failed: with thousands of input files,
  // asking first costs each file two more lookups of the name.
  H5Handle opened_at_once(H5Dopen2(file_.get(), name.c_str(), H5P_DEFAULT), H5Dclose);
  if (opened_at_once.valid()) {
    Open& opened = datasets_[name];
    opened.id = std::move(opened_at_once);
    return opened;
  }
  Hdf5Message();
  const std::string where = path_ + ": dataset '" + name + "'";
  if (H5Lexists(file_.get(), name.c_str(), H5P_DEFAULT) <= 0) {
    Hdf5Message();
    const std::vector<std::string> names = DatasetNames();
    const auto near = Nearest(name, names, std::max<size_t>(2, name.size() / 4));
    throw InputError(where + " not found" + (near ? " (did you mean '" + *near + "'?)" : std::string()) + "; " +
                     ListOfDatasets(names) + ". Set input.dataset (or input.datasets) to the name");
  }
  H5O_info_t info;
#if H5_VERSION_GE(1, 12, 0)
  herr_t status = H5Oget_info_by_name3(file_.get(), name.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT);
#else
  herr_t status = H5Oget_info_by_name2(file_.get(), name.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT);
#endif
  if (status < 0 || info.type != H5O_TYPE_DATASET) {
    Hdf5Message();
    const std::vector<std::string> names = DatasetNames();
    std::vector<std::string> inside;
    for (const auto& n : names)
      if (n.compare(0, name.size() + 1, name + "/") == 0) inside.push_back(n);
    throw InputError(where + " is not a dataset" +
                     (inside.empty() ? "; " + ListOfDatasets(names) : " but a group; " + ListOfDatasets(inside, "it")) +
                     ". Set input.dataset (or input.datasets) to the name of a dataset");
  }
  H5Handle ds(H5Dopen2(file_.get(), name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!ds.valid()) throw InputError(where + ": cannot open: " + Hdf5Message());
  Open& opened = datasets_[name];
  opened.id = std::move(ds);
  return opened;
}

DatasetInfo InputFile::Describe(const std::string& name) {
  const std::string where = path_ + ": dataset '" + name + "'";
  hid_t ds = Dataset(name).id.get();
  H5Handle type(H5Dget_type(ds), H5Tclose);
  H5Handle space(H5Dget_space(ds), H5Sclose);
  if (!type.valid() || !space.valid()) throw InputError(where + ": " + Hdf5Message());
  DatasetInfo info;
  info.name = name;
  auto dtype = DTypeOfH5Type(type.get());
  if (!dtype)
    throw InputError(where + " has unsupported type " + DescribeH5Type(type.get()) +
                     " (supported: float16, float32, float64, bool, uint8, uint16, int8, int16, int32, int64)");
  info.dtype = *dtype;
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 1) throw InputError(where + " is a scalar; the first dimension must index the rows");
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  if (H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr) < 0)
    throw InputError(where + ": cannot read its dimensions: " + Hdf5Message());
  info.shape.assign(dims.begin(), dims.end());
  return info;
}

void InputFile::ReadThroughHdf5(const DatasetInfo& info, hid_t ds, int64_t begin, int64_t end, std::byte* out) {
  H5Handle file_space(H5Dget_space(ds), H5Sclose);
  std::vector<hsize_t> start(info.shape.size(), 0), count(info.shape.begin(), info.shape.end());
  start[0] = static_cast<hsize_t>(begin);
  count[0] = static_cast<hsize_t>(end - begin);
  const std::string where =
      path_ + ": dataset '" + info.name + "': reading rows " + std::to_string(begin) + ".." + std::to_string(end);
  if (!file_space.valid() ||
      H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr) < 0)
    throw InputError(where + ": cannot select them: " + Hdf5Message());
  H5Handle mem_space(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr), H5Sclose);
  if (!mem_space.valid()) throw InputError(where + ": " + Hdf5Message());
  if (H5Dread(ds, NativeH5Type(info.dtype), mem_space.get(), file_space.get(), H5P_DEFAULT, out) < 0)
    throw InputError(where + " failed: " + Hdf5Message());
}

RowLocator* InputFile::Direct(const DatasetInfo& info, Open& ds) {
  if (ds.checked) return ds.direct ? &*ds.direct : nullptr;
  if (!options_.direct) {
    ds.why_not = "input.read: hdf5";
    ds.checked = true;
    return nullptr;
  }
  // Decided only once the check below has run to the end: a throw leaves the
  // dataset unchecked (and unread) rather than half-checked.
  std::string why_not;
  std::optional<RowLocator> direct = RowLocator::For(ds.id.get(), info.dtype, info.shape, &why_not);
  std::shared_ptr<ReadOnlyFile> raw;
  if (direct && !(raw = RawFileOf(ds.id.get(), &why_not))) direct.reset();
  if (direct) ForgoChunkCache(info.name, ds);
  if (direct) {
    // The locator reads HDF5's metadata as documented; check it on real rows.
    const size_t row_bytes = info.row_bytes();
    ByteBuffer ours(row_bytes), theirs(row_bytes);
    for (int64_t row : {int64_t{0}, info.shape[0] / 2, info.shape[0] - 1}) {
      std::vector<FileRange> ranges;
      if (!direct->Locate(ds.id.get(), row, row + 1, &ranges)) continue;  // HDF5 fills that chunk
      raw->ReadRanges(ranges, ours.data());
      ReadThroughHdf5(info, ds.id.get(), row, row + 1, theirs.data());
      if (std::memcmp(ours.data(), theirs.data(), row_bytes) != 0) {
        direct.reset();
        why_not = "row " + std::to_string(row) + " read directly differed from HDF5's";
        break;
      }
    }
  }
  ds.direct = std::move(direct);
  ds.raw = ds.direct ? std::move(raw) : nullptr;
  ds.why_not = why_not;
  ds.checked = true;
  return ds.direct ? &*ds.direct : nullptr;
}

void InputFile::ForgoChunkCache(const std::string& name, Open& ds) {
  H5Handle dapl(H5Pcreate(H5P_DATASET_ACCESS), H5Pclose);
  if (!dapl.valid() ||
      H5Pset_chunk_cache(dapl.get(), H5D_CHUNK_CACHE_NSLOTS_DEFAULT, 0, H5D_CHUNK_CACHE_W0_DEFAULT) < 0)
    throw InputError(path_ + ": dataset '" + name + "': " + Hdf5Message());
  ds.id.Close();  // the only handle: HDF5 keeps the cache of an open dataset for every handle to it
  ds.id = H5Handle(H5Dopen2(file_.get(), name.c_str(), dapl.get()), H5Dclose);
  if (!ds.id.valid()) throw InputError(path_ + ": dataset '" + name + "': cannot open: " + Hdf5Message());
}

std::shared_ptr<ReadOnlyFile> InputFile::RawFileOf(hid_t dataset, std::string* why_not) {
  const int fd = Sec2DescriptorOf(dataset);
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0) {
    *why_not = "its file is read through a driver other than HDF5's default";
    return nullptr;
  }
  auto& raw = raw_files_[{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)}];
  if (!raw) {
    const std::string name = FileNameOf(dataset);
    raw = std::make_shared<ReadOnlyFile>(fd, name.empty() ? path_ : name);
  }
  return raw;
}

std::vector<SourceFile> InputFile::SourceFiles(const std::string& dataset) {
  return DatasetSourceFiles(Dataset(dataset).id.get(), path_, dataset);
}

std::string InputFile::ReadMethod(const DatasetInfo& info) {
  Open& ds = Dataset(info.name);
  if (RowLocator* direct = Direct(info, ds))
    return "directly (" + direct->Describe() + ", " + std::to_string(options_.threads) + " thread(s))";
  return "through HDF5 (" + ds.why_not + ")";
}

void InputFile::Prepare(const DatasetInfo& info) {
  std::lock_guard hdf5(Hdf5Mutex());
  Direct(info, Dataset(info.name));
}

void InputFile::ReadRows(const DatasetInfo& info, int64_t begin, int64_t end, std::byte* out,
                         const ReadOnlyFile::Beside& beside) {
  MPSBATCH_ASSERT(begin >= 0 && begin <= end && end <= info.shape[0]);
  std::unique_lock hdf5(Hdf5Mutex());  // not over the direct reads, which do not call HDF5
  if (begin < end) {
    Open& ds = Dataset(info.name);
    RowLocator* direct = Direct(info, ds);
    std::vector<FileRange> ranges;
    if (direct && direct->Locate(ds.id.get(), begin, end, &ranges)) {
      hdf5.unlock();
      std::exception_ptr beside_error;  // its own, not this read's
      const ReadOnlyFile::Beside guarded = [&](const std::atomic<bool>& read) {
        try {
          beside(read);
        } catch (...) {
          beside_error = std::current_exception();
        }
      };
      try {
        ds.raw->ReadRanges(std::move(ranges), out, read_helpers_->Get(), beside ? guarded : nullptr);
      } catch (const InputError& e) {
        throw InputError("dataset '" + info.name + "', rows " + std::to_string(begin) + ".." + std::to_string(end) +
                         ": " + e.what());
      }
      if (beside_error) std::rethrow_exception(beside_error);
      return;
    }
    ReadThroughHdf5(info, ds.id.get(), begin, end, out);
  }
  hdf5.unlock();
  if (!beside) return;
  const std::atomic<bool> read{true};
  beside(read);
}

HostArray InputFile::ReadRows(const DatasetInfo& info, int64_t begin, int64_t end) {
  Shape shape = info.shape;
  shape[0] = end - begin;
  HostArray a(info.dtype, shape);
  ReadRows(info, begin, end, a.bytes.data());
  return a;
}

}  // namespace mpsbatch
