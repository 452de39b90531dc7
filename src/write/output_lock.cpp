#include "write/output_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <utility>

#include "common/error.h"
#include "common/file_identity.h"
#include "common/log.h"
#include "common/unique_fd.h"
#include "write/partial_file.h"

namespace fs = std::filesystem;

namespace mpsbatch {

std::string LockPath(const std::string& final_path) { return final_path + ".lock"; }

namespace {

std::string ThisProcess() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "?");
  return "host " + std::string(host) + ", pid " + std::to_string(getpid());
}

// What the holder wrote in the lock file: "host H, pid P", or "" if nothing
// (yet) or not that.
std::string Holder(int fd) {
  char text[512] = {};
  const ssize_t n = pread(fd, text, sizeof text - 1, 0);
  if (n <= 0) return "";
  std::string s(text, static_cast<size_t>(n));
  if (const auto end = s.find('\n'); end != std::string::npos) s.resize(end);
  return s.rfind("host ", 0) == 0 ? s : "";
}

// The refusal of a lock `path` another process holds through `fd`.
OutputError Held(const std::string& where, int fd, const std::string& path) {
  const std::string holder = Holder(fd);
  return OutputError(where + "another run is writing this output (" + (holder.empty() ? "a process" : holder) +
                     " holds the lock file " + path + "): wait for it to end, or give this run another output.path");
}

bool SameInode(int fd, const std::string& path) {
  struct stat open {};
  struct stat named {};
  return fstat(fd, &open) == 0 && lstat(path.c_str(), &named) == 0 && open.st_dev == named.st_dev &&
         open.st_ino == named.st_ino;
}

}  // namespace

OutputLock::OutputLock(const std::string& final_path, const std::string& what) : path_(LockPath(final_path)) {
  const std::string where = what + " '" + final_path + "': ";
  // The holder removes the file before it lets go: a lock won on a file no
  // longer at the path is no lock at all, so try again on the new one. A
  // CheckNotLocked holds its shared lock for a moment only: wait that out.
  for (int attempt = 0, busy = 0;; ++attempt) {
    UniqueFd fd(open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
    if (!fd)
      throw OutputError(where + "cannot create the lock file " + path_ + ": " + std::strerror(errno) +
                        (errno == ELOOP ? " (it is a symbolic link: remove it)" : ""));
    if (flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      if (err == EWOULDBLOCK && ++busy < 20) {
        fd.Reset();
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        continue;
      }
      if (err == EWOULDBLOCK) throw Held(where, fd.get(), path_);
      fd.Reset();
      if (err == ENOLCK || err == ENOSYS || err == EOPNOTSUPP) {
        // Once a process: a per_input job locks each of its files.
        static std::atomic<bool> warned{false};
        spdlog::log(warned.exchange(true) ? spdlog::level::debug : spdlog::level::warn,
                    "{}cannot lock {} ({}): this filesystem has no locks, so a second run on the same output "
                    "would not be refused",
                    where, path_, std::strerror(err));
        return;
      }
      throw OutputError(where + "cannot lock " + path_ + ": " + std::strerror(err));
    }
    if (SameInode(fd.get(), path_)) {
      fd_ = std::move(fd);
      break;
    }
    fd.Reset();
    if (attempt >= 100) throw OutputError(where + "cannot lock " + path_ + ": it keeps being replaced");
  }
  const std::string me = ThisProcess() + "\n";
  if (ftruncate(fd_.get(), 0) != 0 || pwrite(fd_.get(), me.data(), me.size(), 0) != static_cast<ssize_t>(me.size()))
    spdlog::debug("{}: cannot record this process in it: {}", path_, std::strerror(errno));
}

OutputLock::~OutputLock() {
  if (!fd_) return;
  unlink(path_.c_str());  // before fd_ closes, which releases the lock
}

void CheckNotLocked(const std::string& final_path, const std::string& what) {
  const std::string path = LockPath(final_path);
  // No lock file, or none this process may open: no run holds it, or the
  // OutputLock taken before the file is written says why not.
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return;
  if (flock(fd.get(), LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK)
    throw Held(what + " '" + final_path + "': ", fd.get(), path);
}

ReadFiles::ReadFiles(const std::vector<KeyedPath>& reads) {
  for (const auto& read : reads)
    if (const auto key = FileKeyOf(read.second)) by_id_.emplace(*key, read);
}

const KeyedPath* ReadFiles::SameAs(const std::string& path) const {
  const auto key = FileKeyOf(path);
  const auto it = key ? by_id_.find(*key) : by_id_.end();
  return it == by_id_.end() ? nullptr : &it->second;
}

void CheckOutputFiles(const std::string& final_path, const std::vector<KeyedPath>& reads) {
  CheckOutputFiles(final_path, ReadFiles(reads));
}

void CheckOutputFiles(const std::string& final_path, const ReadFiles& reads) {
  const std::string where = "output.path '" + final_path + "'";
  // Another run's side files: its lock would not keep this run out.
  for (const std::string suffix : {".partial", ".partial.chunks", ".lock"})
    if (final_path.size() > suffix.size() && final_path.ends_with(suffix))
      throw OutputError(where + " ends in '" + suffix + "', the name of a file mpsbatch keeps beside an output " +
                        "while it is written (another run's, perhaps): give output.path another name");
  const std::vector<std::pair<std::string, std::string>> written = {
      {where, final_path},
      {where + ": its partial file", PartialPath(final_path)},
      {where + ": its journal", JournalPath(final_path)},
      {where + ": its lock file", LockPath(final_path)}};
  for (const auto& [what, path] : written) {
    std::error_code ec;
    if (fs::is_symlink(fs::symlink_status(path, ec))) {
      const auto target = fs::read_symlink(path, ec);
      throw OutputError(what + (what == where ? "" : " " + path) + " is a symbolic link (to '" + target.string() +
                        "'); mpsbatch writes a new file and renames it into place, which would replace the link "
                        "rather than write to its target: give the file's own path" +
                        (what == where ? " as output.path" : ", or remove the link"));
    }
    if (const KeyedPath* read = reads.SameAs(path))
      throw OutputError(what + (what == where ? "" : " " + path) + " is the same file as " + read->first + " '" +
                        read->second +
                        "' (a link to it, or it itself): writing it would destroy what the run reads; give "
                        "output.path another file");
  }
}

void CheckSavedChunksKept(const std::string& final_path, bool resume, bool restart) {
  if (resume || restart) return;
  std::error_code ec;
  const std::string partial = PartialPath(final_path), journal = JournalPath(final_path);
  const bool has_partial = fs::exists(partial, ec), has_journal = fs::exists(journal, ec);
  if (!has_partial && !has_journal) return;
  throw OutputError("output.path '" + final_path + "': an earlier run of it was interrupted and left " +
                    (has_partial ? partial : journal) + (has_partial && has_journal ? " and " + journal : "") +
                    ": run again with --resume to keep its finished chunks and score only the rest, or with "
                    "--restart to discard them and start again");
}

}  // namespace mpsbatch
