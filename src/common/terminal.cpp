#include "common/terminal.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <system_error>

#include "common/unique_fd.h"

namespace mpsbatch {

namespace {

namespace fs = std::filesystem;

// What /proc says `fd` of `pid` is ("pipe:[123]", "/dev/pts/1"); "" if unknown.
std::string ProcFdTarget(const std::string& pid, int fd) {
  std::error_code ec;
  const fs::path target = fs::read_symlink("/proc/" + pid + "/fd/" + std::to_string(fd), ec);
  return ec ? "" : target.string();
}

// True if process `pid` holds `target` open on some descriptor.
bool Holds(const std::string& pid, const std::string& target) {
  std::error_code ec;
  for (fs::directory_iterator it("/proc/" + pid + "/fd", ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code read_ec;
    if (fs::read_symlink(it->path(), read_ec).string() == target && !read_ec) return true;
  }
  return false;
}

// The parent's stderr, opened anew, when it is a terminal and the parent
// reads this process's stderr pipe; an invalid fd otherwise.
UniqueFd ForwardingTerminal() {
  struct stat st {};
  if (fstat(STDERR_FILENO, &st) != 0 || !S_ISFIFO(st.st_mode)) return UniqueFd();
  const std::string mine = ProcFdTarget("self", STDERR_FILENO);
  const std::string parent = std::to_string(getppid());
  if (mine.empty() || !Holds(parent, mine)) return UniqueFd();
  UniqueFd tty(::open(("/proc/" + parent + "/fd/2").c_str(), O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC));
  if (!tty || !isatty(tty.get())) return UniqueFd();
  return tty;
}

}  // namespace

bool StderrReachesTerminal() { return isatty(STDERR_FILENO) || ForwardingTerminal().valid(); }

int TerminalColumns() {
  winsize size{};
  if (isatty(STDERR_FILENO) && ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  const UniqueFd tty = ForwardingTerminal();
  if (tty && ioctl(tty.get(), TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  return 80;
}

}  // namespace mpsbatch
