// The files an input dataset's rows are read from. A dataset reached through
// an external link lives in another file; a virtual dataset (VDS) reads its
// rows from source datasets in other files; a dataset with external storage
// keeps its raw rows in plain files. HDF5 reads all of these without a word,
// and a VDS whose source file is missing reads as its fill value (zeros), so
// mpsbatch looks for every one of them before it scores: a missing one is an
// input error naming it, and each one's size and modification time are part
// of what a --resume must match (plan/job_plan.h).
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/file_identity.h"

namespace mpsbatch {

// What a resume compares of a file: its size and modification time; and,
// on the host that took the stamp, which file it was.
struct FileStamp {
  int64_t size = 0;
  int64_t mtime_ns = 0;  // since the Unix epoch (stat's st_mtim)
  // Its device and inode where the stamp was taken: rank 0 tells by them a
  // file renamed over the input (a copy of the same size and time) from the
  // input. Not sent to other ranks (0 there), nor part of a resume's identity.
  FileKey file{};

  bool operator==(const FileStamp&) const = default;
};

// The stamp of the file at `path` (symbolic links followed), or nullopt if
// it cannot be asked (missing, no permission).
std::optional<FileStamp> StampOf(const std::string& path);

struct SourceFile {
  std::string path;  // as HDF5 finds it (see ResolveVirtualSource)
  std::string role;  // "external link target", "virtual dataset source", "external storage"
  FileStamp stamp;
};

// Every file other than `input_path` that the rows of `dataset` (open, named
// `name` in `input_path`) come from, each once, in the order met: the file an
// external link led to, the source files of a virtual dataset (and theirs, in
// turn), the files of external storage. Throws InputError naming the input,
// the dataset and the source when a source file or a virtual dataset's source
// dataset is missing, or when a source cannot be checked (a printf-style
// virtual source name). HDF5 calls: from the thread that owns the file.
std::vector<SourceFile> DatasetSourceFiles(hid_t dataset, const std::string& input_path, const std::string& name);

// Where HDF5 looks for the source file `name` of a virtual dataset stored in
// the file at `vds_file`, in its order: `name` itself when absolute (then its
// last component only), each folder of HDF5_VDS_PREFIX (where "${ORIGIN}" is
// the virtual dataset's folder), the virtual dataset's folder, the current
// folder. The first that exists, or nullopt with the places tried in *tried.
std::optional<std::string> ResolveVirtualSource(const std::string& name, const std::string& vds_file,
                                                std::string* tried);

}  // namespace mpsbatch
