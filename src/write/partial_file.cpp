#include "write/partial_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "common/error.h"
#include "common/log.h"
#include "common/unique_fd.h"
#include "hdf5/handle.h"

namespace fs = std::filesystem;

namespace mpsbatch {

std::string PartialPath(const std::string& final_path) { return final_path + ".partial"; }

std::string JournalPath(const std::string& final_path) { return PartialPath(final_path) + ".chunks"; }

std::optional<PartialState> ReadPartial(const std::string& final_path) {
  const std::string partial = PartialPath(final_path);
  if (!fs::exists(partial)) return std::nullopt;
  H5Handle file(H5Fopen(partial.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  const std::string unopened = file.valid() ? "" : Hdf5Message();
  auto identity = file.valid() ? ReadStringAttribute(file.get(), kIdentityAttribute) : std::nullopt;
  auto chunk_rows = file.valid() ? ReadIntAttribute(file.get(), kChunkRowsAttribute) : std::nullopt;
  auto run_id = file.valid() ? ReadStringAttribute(file.get(), kRunIdAttribute) : std::nullopt;
  if (!identity || !chunk_rows || *chunk_rows < 1 || !run_id) {
    const std::string why =
        unopened.empty() ? "it does not record the run that wrote it (or an older mpsbatch wrote it)" : unopened;
    // A run killed while it created the file leaves it without its metadata
    // and its journal without records: nothing is lost by starting it again.
    const int64_t listed = JournalRecordsBySize(JournalPath(final_path));
    if (listed == 0) {
      spdlog::info("starting {} afresh: it cannot be resumed ({}) and its journal lists no finished chunk", partial,
                   why);
      return std::nullopt;
    }
    throw OutputError("cannot resume from " + partial + ": " + why + ", while its journal " + JournalPath(final_path) +
                      " lists " + std::to_string(listed) + " finished chunk(s); " +
                      "remove both files and run --resume again to score that file's rows again");
  }
  PartialState state;
  state.identity = *identity;
  state.chunk_rows = *chunk_rows;
  // A tail torn by a crash is ignored: its chunks are scored again.
  state.records = ReadJournal(JournalPath(final_path), *run_id).records;
  for (const auto& r : state.records) state.done.push_back(r.chunk);
  std::sort(state.done.begin(), state.done.end());
  state.done.erase(std::unique(state.done.begin(), state.done.end()), state.done.end());
  return state;
}

std::optional<PartialState> ReadCommitted(const std::string& final_path) {
  if (!fs::exists(final_path)) return std::nullopt;
  H5Handle file(H5Fopen(final_path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  auto identity = file.valid() ? ReadStringAttribute(file.get(), kIdentityAttribute) : std::nullopt;
  auto chunk_rows = file.valid() ? ReadIntAttribute(file.get(), kChunkRowsAttribute) : std::nullopt;
  if (!identity || !chunk_rows || *chunk_rows < 1)
    throw OutputError("cannot resume: " + final_path +
                      " exists but does not record the run that wrote it (not an mpsbatch output, or an older "
                      "mpsbatch wrote it); move it away, or run without --resume with output.overwrite: true to "
                      "replace it");
  return PartialState{*identity, *chunk_rows, {}, {}};
}

namespace {

// The folder `final_path` goes in.
fs::path FolderOf(const std::string& final_path) {
  const fs::path parent = fs::path(final_path).parent_path();
  return parent.empty() ? fs::path(".") : parent;
}

}  // namespace

void CheckOutputFile(const std::string& final_path, bool overwrite) {
  const fs::path p(final_path);
  if (fs::exists(p) && !overwrite)
    throw OutputError("output.path '" + final_path + "' exists; set output.overwrite: true to replace it");
  if (fs::is_directory(p)) throw OutputError("output.path '" + final_path + "' is a folder");
}

void CheckOutputFolder(const std::string& final_path, FolderCheck how) {
  const fs::path dir = FolderOf(final_path);
  // A missing folder is created (MakeOutputFolder) in the nearest one that exists.
  fs::path existing = dir;
  std::error_code ec;
  while (!fs::exists(fs::symlink_status(existing, ec)) && existing.has_parent_path() &&
         existing.parent_path() != existing)
    existing = existing.parent_path();
  if (!fs::exists(existing, ec)) existing = ".";  // a relative path's first folder
  const std::string creating = existing == dir ? "" : "cannot create folder " + dir.string() + ": ";
  if (!fs::is_directory(existing))
    throw OutputError("output.path '" + final_path + "': " + creating + existing.string() +
                      " is a file, not a folder; move it away or choose another output.path");
  int err = 0;
  if (how == FolderCheck::kNoWrite) {
    // access() is told what creating a file would be: the folder's mode
    // (which root passes), ACLs, security modules, an immutable folder, and a
    // read-only filesystem or mount (EROFS, root included). It cannot tell a
    // filesystem that refuses new files although mounted writable (sysfs,
    // procfs), nor a full disk or quota: the run finds those when it creates
    // its files.
    if (access(existing.c_str(), W_OK | X_OK) != 0) err = errno;
  } else {
    // Create and remove a file rather than ask access(): root passes access()
    // on folders where nothing can be created (sysfs).
    std::string probe = (existing / ".mpsbatch-probe-XXXXXX").string();
    UniqueFd fd(mkstemp(probe.data()));
    if (!fd) err = errno;
    fd.Reset();
    if (!err) unlink(probe.c_str());
  }
  if (err == 0) return;
  const bool denied = err == EACCES || err == EPERM || err == EROFS;
  throw OutputError("output.path '" + final_path + "': " + creating +
                    (denied ? "folder " + existing.string() + " is not writable: "
                            : "cannot create a file in folder " + existing.string() + ": ") +
                    std::strerror(err) +
                    (err == EMFILE ? " (this process's limit of open files: raise it with ulimit -n)" : ""));
}

void CheckOutputPath(const std::string& final_path, bool overwrite, FolderCheck how) {
  CheckOutputFile(final_path, overwrite);
  CheckOutputFolder(final_path, how);
}

void MakeOutputFolder(const std::string& final_path) {
  const fs::path dir = FolderOf(final_path);
  std::error_code ec;
  if (fs::is_directory(dir, ec)) return;
  fs::create_directories(dir, ec);
  if (ec)
    throw OutputError("output.path '" + final_path + "': cannot create folder " + dir.string() + ": " + ec.message());
}

void MovePartialIntoPlace(const std::string& final_path, bool overwrite) {
  const std::string partial = PartialPath(final_path);
  if (overwrite) {
    if (std::rename(partial.c_str(), final_path.c_str()) != 0)
      throw OutputError("cannot rename " + partial + " to " + final_path + ": " + std::strerror(errno));
  } else {
    // link() refuses an existing target, so a file that appeared during the
    // run is never replaced.
    if (link(partial.c_str(), final_path.c_str()) != 0)
      throw OutputError("cannot move " + partial + " to " + final_path + ": " + std::strerror(errno) +
                        (errno == EEXIST ? " (it appeared during the run; set output.overwrite: true)" : ""));
    std::remove(partial.c_str());
  }
}

void RemoveJournal(const std::string& final_path) { std::remove(JournalPath(final_path).c_str()); }

void RemovePartialFiles(const std::string& final_path) {
  std::error_code ec;
  fs::remove(PartialPath(final_path), ec);
  fs::remove(JournalPath(final_path), ec);
}

std::string SyncFolderOf(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  const std::string dir = parent.empty() ? "." : parent.string();
  UniqueFd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return "cannot open folder " + dir + " to sync it: " + std::strerror(errno);
  const int rc = fsync(fd.get());
  const int err = errno;
  fd.Reset();
  return rc == 0 ? "" : "syncing folder " + dir + " failed: " + std::strerror(err);
}

}  // namespace mpsbatch
