#include "common/terminal.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <functional>

#include "common/unique_fd.h"

namespace mpsbatch {
namespace {

// A pseudo-terminal of `columns` columns: the master and the slave.
struct Pty {
  UniqueFd master, slave;
};

Pty OpenPty(unsigned short columns) {
  Pty p;
  p.master.Reset(posix_openpt(O_RDWR | O_NOCTTY));
  if (!p.master || grantpt(p.master.get()) != 0 || unlockpt(p.master.get()) != 0) return Pty();
  p.slave.Reset(::open(ptsname(p.master.get()), O_RDWR | O_NOCTTY));
  winsize size{};
  size.ws_row = 24;
  size.ws_col = columns;
  ioctl(p.master.get(), TIOCSWINSZ, &size);
  return p;
}

// Runs `child` in a child process whose stderr is a pipe that this process
// (its parent, standing in for mpirun) reads, while this process's own
// stderr is `parent_stderr`; returns the child's exit status. `keep_reader`
// false: this process closes its end of the pipe before the child starts.
int InChildOfLauncher(int parent_stderr, bool keep_reader, const std::function<int()>& child) {
  int pipe_fds[2], go_fds[2];
  if (pipe(pipe_fds) != 0 || pipe(go_fds) != 0) return -1;
  UniqueFd reader(pipe_fds[0]), writer(pipe_fds[1]), go_reader(go_fds[0]), go_writer(go_fds[1]);
  const UniqueFd saved(dup(STDERR_FILENO));
  dup2(parent_stderr, STDERR_FILENO);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(writer.get(), STDERR_FILENO);
    ::close(reader.get());
    char go;
    if (::read(go_reader.get(), &go, 1) != 1) _exit(100);  // until the parent is set up
    _exit(child());
  }
  writer.Reset();  // as a launcher does: it only reads
  if (!keep_reader) reader.Reset();
  const bool told = ::write(go_writer.get(), "g", 1) == 1;
  int status = 0;
  waitpid(pid, &status, 0);
  dup2(saved.get(), STDERR_FILENO);
  return told && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int ReachesTerminal() { return StderrReachesTerminal() ? 1 : 0; }

bool HaveProc() { return std::filesystem::exists("/proc/self/fd"); }

// Open MPI's mpirun: a rank's stderr is a pipe mpirun reads and copies to
// its own stderr, here a terminal.
TEST(Terminal, APipeThatTheParentReadsOntoATerminalReachesTheTerminal) {
  if (!HaveProc()) GTEST_SKIP() << "no /proc: only a stderr that is itself a terminal counts";
  Pty pty = OpenPty(123);
  ASSERT_TRUE(pty.slave.valid());
  EXPECT_EQ(InChildOfLauncher(pty.slave.get(), true, ReachesTerminal), 1);
  EXPECT_EQ(InChildOfLauncher(pty.slave.get(), true, TerminalColumns), 123);
}

TEST(Terminal, APipeOntoAFileDoesNot) {
  FILE* file = tmpfile();
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(InChildOfLauncher(fileno(file), true, ReachesTerminal), 0);
  EXPECT_EQ(InChildOfLauncher(fileno(file), true, TerminalColumns), 80);
  fclose(file);
}

// A shell on a terminal that started `mpsbatch job.yaml 2>&1 | tee log`: the
// parent has the terminal, but the pipe goes elsewhere.
TEST(Terminal, APipeThatTheParentDoesNotReadDoesNot) {
  Pty pty = OpenPty(100);
  ASSERT_TRUE(pty.slave.valid());
  EXPECT_EQ(InChildOfLauncher(pty.slave.get(), false, ReachesTerminal), 0);
}

TEST(Terminal, AStderrThatIsATerminalReachesIt) {
  Pty pty = OpenPty(90);
  ASSERT_TRUE(pty.slave.valid());
  const int slave = pty.slave.get();
  EXPECT_EQ(InChildOfLauncher(slave, true,
                              [slave] {
                                dup2(slave, STDERR_FILENO);
                                return StderrReachesTerminal() ? TerminalColumns() : 0;
                              }),
            90);
}

}  // namespace
}  // namespace mpsbatch
