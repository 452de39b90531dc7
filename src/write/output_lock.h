// What a run makes sure of before it writes anything at output.path: that no
// other run writes there (an exclusive lock of its own, taken before any file
// is truncated: HDF5's lock comes too late, as H5Fcreate truncates before it
// locks, and HDF5_USE_FILE_LOCKING=FALSE turns it off), that none of the files
// it writes is a file it reads or a symbolic link, and that it throws away no
// chunks an earlier run saved unless told to.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/file_identity.h"
#include "common/unique_fd.h"

namespace mpsbatch {

// The lock file beside the output: output.path + ".lock".
std::string LockPath(const std::string& final_path);

// An exclusive lock on an output path, held from construction to destruction.
// Rank 0 holds it for the whole run, a --resume too; under output.per_input
// one on the pattern for the whole run and one on each file while that file
// is written, so that a job naming the file through another pattern, or as
// its one output, takes the same lock file.
class OutputLock {
 public:
  // Creates LockPath(final_path) if needed (never truncating a file in the
  // way), takes an exclusive flock on it and writes "host H, pid P" in it.
  // Throws OutputError if another process holds it (past a moment's wait, for
  // a CheckNotLocked of another run), naming `what` ("output.path" or
  // "output file"), the path, and the host and pid written there, or if the
  // file cannot be made or locked. On a filesystem without locks (flock fails
  // with ENOLCK, ENOSYS or EOPNOTSUPP) it logs a warning (once a process)
  // and holds nothing.
  explicit OutputLock(const std::string& final_path, const std::string& what = "output.path");
  // Removes the lock file, then releases the lock. A process that ends
  // without it (kill -9, MPI_Abort) releases the lock all the same; the file
  // it leaves is taken over by the next run.
  ~OutputLock();
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;

 private:
  std::string path_;
  UniqueFd fd_;  // holds the lock; none on a filesystem without locks
};

// Throws OutputError, as OutputLock does, if another process holds the lock
// of `final_path` (an output file under `what`). Creates, locks and removes
// nothing (it holds a shared lock for a moment, if the lock file exists), so
// that a run can refuse early, before it truncates anything, a file another
// run writes now.
void CheckNotLocked(const std::string& final_path, const std::string& what = "output.path");

// A file the run reads, with the key that names it: {"input.path", "in.h5"}.
using KeyedPath = std::pair<std::string, std::string>;

// Throws OutputError if output.path, its partial file, journal or lock file is
// a symbolic link (a rename would replace the link, not write its target;
// H5Fcreate would truncate the target), or is the same file (device and
// inode, links followed) as one of `reads`. Touches nothing.
void CheckOutputFiles(const std::string& final_path, const std::vector<KeyedPath>& reads);

// The files a run reads, each looked up once (device and inode, links
// followed), so that many outputs are checked against them in time linear in
// their number (a per_input job has one output per input file).
class ReadFiles {
 public:
  explicit ReadFiles(const std::vector<KeyedPath>& reads);
  // The first of the reads that is the same file as `path`; nullptr if none,
  // or if `path` does not exist.
  const KeyedPath* SameAs(const std::string& path) const;

 private:
  std::map<FileKey, KeyedPath> by_id_;
};

// CheckOutputFiles against reads looked up beforehand.
void CheckOutputFiles(const std::string& final_path, const ReadFiles& reads);

// Throws OutputError if an earlier run left saved chunks for output.path (its
// partial file or journal) and this run neither resumes them (`resume`) nor
// was told to discard them (`restart`). Call it holding the OutputLock, so
// that the files are not a running job's.
void CheckSavedChunksKept(const std::string& final_path, bool resume, bool restart);

}  // namespace mpsbatch
