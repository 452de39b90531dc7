#include "read/input_sources.h"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <set>
#include <sstream>

#include "common/error.h"
#include "common/file_identity.h"
#include "hdf5/handle.h"

namespace fs = std::filesystem;

namespace mpsbatch {

std::optional<FileStamp> StampOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
#if defined(__APPLE__)
  const timespec& t = st.st_mtimespec;
#else
  const timespec& t = st.st_mtim;
#endif
  return FileStamp{static_cast<int64_t>(st.st_size), static_cast<int64_t>(t.tv_sec) * 1000000000LL + t.tv_nsec,
                   FileKey{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)}};
}

namespace {

bool Exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// The folder of `file` as HDF5 names it for "${ORIGIN}" and relative names.
std::string FolderOf(const std::string& file) { return fs::absolute(file).parent_path().string(); }

std::string Join(const std::string& folder, const std::string& name) {
  if (folder.empty() || fs::path(name).is_absolute()) return name;
  return (fs::path(folder) / name).string();
}

// "${ORIGIN}" at the start of a prefix is the folder of the file that refers.
std::string ExpandOrigin(const std::string& prefix, const std::string& referring_file) {
  const std::string origin = "${ORIGIN}";
  if (prefix.compare(0, origin.size(), origin) != 0) return prefix;
  return FolderOf(referring_file) + prefix.substr(origin.size());
}

std::string Hdf5String(hid_t dcpl, size_t index, ssize_t (*get)(hid_t, size_t, char*, size_t)) {
  const ssize_t n = get(dcpl, index, nullptr, 0);
  if (n < 0) return "";
  std::string s(static_cast<size_t>(n) + 1, '\0');
  get(dcpl, index, s.data(), s.size());
  s.resize(static_cast<size_t>(n));
  return s;
}

// Walks a dataset's storage depth first: the file holding it, then each
// source of a virtual dataset (walked in turn), or its external storage
// files; collects each file other than the input once.
class SourceWalk {
 public:
  SourceWalk(const std::string& input_path, const std::string& name)
      : input_path_(input_path), where_(input_path + ": dataset '" + name + "'") {}

  void Dataset(hid_t dataset, int depth) {
    const std::string holder = FileNameOf(dataset);
    if (!holder.empty()) Add(holder, "external link target");
    H5Handle dcpl(H5Dget_create_plist(dataset), H5Pclose);
    if (!dcpl.valid()) throw InputError(where_ + ": creation properties unreadable: " + Hdf5Message());
    switch (H5Pget_layout(dcpl.get())) {
      case H5D_VIRTUAL: Virtual(dcpl.get(), holder, depth); break;
      case H5D_CONTIGUOUS: External(dcpl.get(), holder); break;
      default: break;
    }
  }

  std::vector<SourceFile> Take() { return std::move(found_); }

 private:
  void Add(const std::string& path, const char* role) {
    if (path == input_path_ || SameFile(path, input_path_)) return;  // the name HDF5 opened it under: no stat
    std::error_code ec;
    const fs::path canonical = fs::weakly_canonical(path, ec);
    if (!seen_.insert(ec ? path : canonical.string()).second) return;
    auto stamp = StampOf(path);
    if (!stamp) throw InputError(where_ + ": its " + std::string(role) + " " + path + " cannot be read");
    found_.push_back({path, role, *stamp});
  }

  void Virtual(hid_t dcpl, const std::string& holder, int depth) {
    size_t count = 0;
    if (H5Pget_virtual_count(dcpl, &count) < 0)
      throw InputError(where_ + ": virtual dataset mappings unreadable: " + Hdf5Message());
    for (size_t i = 0; i < count; ++i) {
      const std::string file = Hdf5String(dcpl, i, H5Pget_virtual_filename);
      const std::string dataset = Hdf5String(dcpl, i, H5Pget_virtual_dsetname);
      const std::string what = "virtual dataset source '" + dataset + "' in '" + file + "'";
      if (file.find('%') != std::string::npos || dataset.find('%') != std::string::npos)
        throw InputError(where_ + ": its " + what +
                         " is a printf-style pattern, which mpsbatch cannot check; give the dataset with "
                         "h5repack --layout=CONTI, or a virtual dataset with plain source names");
      std::string path = holder;
      if (file != ".") {
        std::string tried;
        auto found = ResolveVirtualSource(file, holder, &tried);
        if (!found)
          throw InputError(where_ + ": its " + what + " is missing (looked for " + tried +
                           "); HDF5 would read those rows as fill values. Restore the file, or point "
                           "HDF5_VDS_PREFIX at its folder");
        path = *found;
        Add(path, "virtual dataset source");
      }
      if (depth >= 8) throw InputError(where_ + ": virtual datasets nest more than 8 deep");
      H5Handle source_file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
      if (!source_file.valid())
        throw InputError(where_ + ": its " + what + ": cannot open " + path + ": " + Hdf5Message());
      H5Handle source(H5Dopen2(source_file.get(), dataset.c_str(), H5P_DEFAULT), H5Dclose);
      if (!source.valid())
        throw InputError(where_ + ": its " + what + ": " + path + " has no dataset '" + dataset +
                         "'; HDF5 would read those rows as fill values");
      Dataset(source.get(), depth + 1);
    }
  }

  void External(hid_t dcpl, const std::string& holder) {
    const int count = H5Pget_external_count(dcpl);
    if (count <= 0) return;
    // HDF5_EXTFILE_PREFIX (or none: the current folder) before each name.
    const char* env = std::getenv("HDF5_EXTFILE_PREFIX");
    std::string prefix = env && *env && std::string(env) != "." ? ExpandOrigin(env, holder) : "";
    for (int i = 0; i < count; ++i) {
      char name[4096] = {};
      off_t offset = 0;
      hsize_t size = 0;
      if (H5Pget_external(dcpl, static_cast<unsigned>(i), sizeof name, name, &offset, &size) < 0)
        throw InputError(where_ + ": external storage unreadable: " + Hdf5Message());
      const std::string path = Join(prefix, name);
      if (!Exists(path))
        throw InputError(where_ + ": its external storage file " + path +
                         " is missing; restore it, or set HDF5_EXTFILE_PREFIX to its folder");
      Add(path, "external storage");
    }
  }

  std::string input_path_;
  std::string where_;
  std::set<std::string> seen_;
  std::vector<SourceFile> found_;
};

}  // namespace

std::optional<std::string> ResolveVirtualSource(const std::string& name, const std::string& vds_file,
                                                std::string* tried) {
  std::vector<std::string> places;
  std::string relative = name;
  if (fs::path(name).is_absolute()) {
    places.push_back(name);
    relative = fs::path(name).filename().string();
  }
  if (const char* env = std::getenv("HDF5_VDS_PREFIX"); env && *env) {
    std::stringstream folders(env);
    for (std::string folder; std::getline(folders, folder, ':');)
      if (!folder.empty()) places.push_back(Join(ExpandOrigin(folder, vds_file), relative));
  }
  places.push_back(Join(FolderOf(vds_file), relative));
  places.push_back(relative);
  tried->clear();
  for (const auto& p : places) {
    if (Exists(p)) return p;
    *tried += (tried->empty() ? "" : ", ") + p;
  }
  return std::nullopt;
}

std::vector<SourceFile> DatasetSourceFiles(hid_t dataset, const std::string& input_path, const std::string& name) {
  SourceWalk walk(input_path, name);
  walk.Dataset(dataset, 0);
  return walk.Take();
}

}  // namespace mpsbatch
