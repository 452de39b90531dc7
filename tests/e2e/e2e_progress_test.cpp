// What a job tells its user through rank 0's log: the plan before any model
// is loaded, a "calibrating" line before calibration, progress while it
// scores (a line every progress_interval seconds where the log is a file or a
// pipe, one status line rewritten in place on a terminal), a short summary
// (the per-rank table at -v, the result at -q too), no line twice, and work
// for every rank.
#include <poll.h>

#include <map>
#include <regex>
#include <set>

#include "e2e_util.h"
#include "source_files_util.h"

namespace mpsbatch::e2e {
namespace {

// hang.pt on 103 rows in 52 chunks of 2: 0.1-0.3 s a chunk on a CPU, about
// a millisecond on a GPU (hence the short intervals below).
fs::path WriteSlowJob(const fs::path& dir, const std::string& extra) {
  const fs::path job = dir / "job.yaml";
  testing::WriteFile(job,
                     "model:\n  path: " + Fixture("hang.pt") + "\ndevice: " + TestDevice() +
                         "\nbatch_size: 2\nchunk_size: 2\npath: eager\ninput:\n  path: " + Fixture("hang_unmarked.h5") +
                         "\n  datasets: [x]\noutput:\n  path: out.h5\n  datasets: [y]\n" + extra);
  return job;
}

TEST(Progress, RankZeroLogsRowsChunksRateTimeLeftAndBusyRanks) {
  const auto dir = testing::TestDir();
  const RunResult r = RunMpsbatch(2, WriteSlowJob(dir, "progress_interval: 0.02\n"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::regex line(
      R"(\[rank 0\] \[info\] progress: [0-9]+ of 103 rows \([0-9]+\.[0-9]%\), [0-9]+ of 52 chunks, [0-9]+ rows/s, )"
      R"((about [0-9hms ]+ left|time left unknown); [0-2] of 2 rank\(s\) busy)");
  EXPECT_TRUE(std::regex_search(r.output, line)) << r.output;
  // Not a terminal: never the status line's carriage returns or control codes.
  EXPECT_EQ(r.output.find_first_of("\r\x1b"), std::string::npos) << r.output;
}

// Over a job file that asks for lines every 0.02 s (which the test above
// shows it logs), so that a line here means off was not honoured.
TEST(Progress, OffMeansNoProgressLine) {
  const auto dir = testing::TestDir();
  const RunResult r =
      RunMpsbatch(2, WriteSlowJob(dir, "progress_interval: 0.02\n"), {"--set", "progress_interval=off"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("progress:"), std::string::npos) << r.output;
}

TEST(Progress, ABadIntervalIsAConfigErrorNamingTheKey) {
  const auto dir = testing::TestDir();
  const RunResult r = RunMpsbatch(1, WriteSlowJob(dir, "progress_interval: soon\n"));
  EXPECT_EQ(r.exit_code, 3) << r.output;  // a config error
  EXPECT_NE(r.output.find("progress_interval: expected off or a number of seconds > 0 and <= 86400, got 'soon'"),
            std::string::npos)
      << r.output;
}

// Runs the job through mpiexec with stdout and stderr on a pseudo-terminal,
// as from an interactive shell; returns what reached the terminal.
RunResult RunOnTerminal(int ranks, const fs::path& job, int timeout_s = 120) {
  RunResult r;
  const int master = posix_openpt(O_RDWR | O_NOCTTY);
  if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) return r;
  const std::string slave = ptsname(master);
  auto argv = MpiexecPrefix(ranks);
  for (const auto& a : MpsbatchArgs(job, {})) argv.push_back(a);
  const pid_t pid = fork();
  if (pid == 0) {
    setsid();
    const int tty = open(slave.c_str(), O_RDWR);
    dup2(tty, 1);
    dup2(tty, 2);
    const int null = open("/dev/null", O_RDONLY);
    dup2(null, 0);
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 1);
    setenv("XDG_CACHE_HOME", (job.parent_path() / "cache").c_str(), 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  const auto start = std::chrono::steady_clock::now();
  int status = 0;
  bool exited = false;
  while (true) {
    pollfd p{master, POLLIN, 0};
    if (poll(&p, 1, 50) > 0) {
      char buf[4096];
      const ssize_t n = read(master, buf, sizeof buf);
      if (n > 0) {
        r.output.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (exited) break;  // EIO: every writer has gone
    }
    if (!exited && waitpid(pid, &status, WNOHANG) == pid) exited = true;
    if (exited && poll(&p, 1, 0) <= 0) break;
    if (std::chrono::steady_clock::now() - start > std::chrono::seconds(timeout_s)) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      r.output += "(killed: the run hung)";
      break;
    }
  }
  close(master);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

// On a terminal (mpirun's own, with the ranks' stderr on pipes): one status
// line, redrawn in place, erased before the summary, and never a log line on
// top of it.
TEST(Progress, OnATerminalOneStatusLineIsRewrittenAndErasedBeforeTheSummary) {
  const auto dir = testing::TestDir();
  const RunResult r = RunOnTerminal(2, WriteSlowJob(dir, "progress_interval: 0.02\n"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("progress:"), std::string::npos) << r.output;  // no progress log lines
  const size_t first = r.output.find("\rscoring: ");
  ASSERT_NE(first, std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\rscoring: ", first + 1), std::string::npos) << "drawn once only: " << r.output;
  const size_t last = r.output.rfind("\rscoring: "), done = r.output.find("done: 103 rows");
  ASSERT_NE(done, std::string::npos) << r.output;
  const size_t erased = r.output.find("\r\x1b[K", last + 1);
  EXPECT_LT(erased, done) << r.output;
  // Each status ends its own line: erased or redrawn, never followed by text.
  EXPECT_FALSE(std::regex_search(r.output, std::regex(" busy\x1b\\[K[^\r]"))) << r.output;
}

// progress: lines keeps the log lines on a terminal too.
TEST(Progress, LinesOnATerminalWhenAskedFor) {
  const auto dir = testing::TestDir();
  const RunResult r = RunOnTerminal(2, WriteSlowJob(dir, "progress_interval: 0.02\nprogress: lines\n"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("] progress: "), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("\x1b[K"), std::string::npos) << r.output;
}

// Lines of rank 0's log at info, without the "[time] [rank 0] [level] " prefix.
std::vector<std::string> RankZeroLines(const std::string& output) {
  std::vector<std::string> lines;
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);) {
    const size_t at = line.find("[rank 0] [");
    if (at == std::string::npos) continue;
    const size_t end = line.find("] ", at + 9);
    if (end != std::string::npos) lines.push_back(line.substr(end + 2));
  }
  return lines;
}

size_t Position(const std::string& output, const std::string& text) {
  const size_t at = output.find(text);
  EXPECT_NE(at, std::string::npos) << "no '" << text << "' in: " << output;
  return at;
}

class Log : public E2E {};

// The plan is logged before the model is even read: a model that cannot be
// loaded fails after it.
TEST_F(Log, ThePlanComesBeforeTheModelIsLoaded) {
  const auto r = RunMpsbatch(2, WriteJob(dir_, "not_a_model.pt", "[x_f32]"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_LT(Position(r.output, "plan: 103 rows of " + Fixture("inputs.h5")),
            Position(r.output, "not a loadable TorchScript model"));
}

TEST_F(Log, ThePlanAndStartUpComeBeforeCalibration) {
  const auto r = RunMpsbatch(2, WriteJob(dir_, "mlp.pt", "[x_f32]"));
  EXPECT_RUN_OK(r);
  const size_t plan = Position(r.output, "plan: 103 rows"), chunks = Position(r.output, "chunks: 7 of up to 16 rows");
  const size_t start_up = Position(r.output, "start-up: "),
               calibrating = Position(r.output, "calibrating (at most 30 s");
  const size_t calibration = Position(r.output, "calibration: "), done = Position(r.output, "done: 103 rows");
  EXPECT_LT(plan, chunks);
  EXPECT_LT(chunks, start_up);
  EXPECT_LT(start_up, calibrating);
  EXPECT_LT(calibrating, calibration);
  EXPECT_LT(calibration, done);
}

// The calibration summary and the cache's file once each; no line twice.
// (A forced path and batch_size: auto are stored in the cache whatever the
// machine's load; timed paths are not where the job's share of time ran out.)
TEST_F(Log, NoLineIsLoggedTwice) {
  const auto r =
      RunMpsbatch(2, WriteJob(dir_, "mlp.pt", "[x_f32]"), {"--set", "batch_size=auto", "--set", "path=frozen"});
  EXPECT_RUN_OK(r);
  const size_t stored = Position(r.output, "stored in " + (dir_ / "cache").string());
  EXPECT_EQ(r.output.find("stored in ", stored + 1), std::string::npos) << r.output;
  std::map<std::string, int> seen;
  for (const auto& line : RankZeroLines(r.output)) EXPECT_EQ(++seen[line], 1) << "twice: " << line << "\n" << r.output;
}

// At 8 ranks every line stays short once the paths it names are left out,
// and the per-rank table waits for -v.
TEST_F(Log, LinesStayShortAtEightRanks) {
  const auto r = RunMpsbatch(8, WriteJob(dir_, "mlp.pt", "[x_f32]"));
  EXPECT_RUN_OK(r);
  const auto lines = RankZeroLines(r.output);
  EXPECT_LE(lines.size(), 14u) << r.output;
  const std::regex path("/[^ ;,()]+");  // each file it names counts as one character
  for (const auto& line : lines) EXPECT_LE(std::regex_replace(line, path, "P").size(), 120u) << line;
  EXPECT_EQ(r.output.find("rank 7: "), std::string::npos) << r.output;
}

TEST_F(Log, QuietStillSaysTheRowsAndTheOutput) {
  const auto r = RunMpsbatch(2, WriteJob(dir_, "mlp.pt", "[x_f32]"), {"-q"});
  EXPECT_RUN_OK(r);
  const auto lines = RankZeroLines(r.output);
  ASSERT_EQ(lines.size(), 1u) << r.output;
  EXPECT_EQ(lines[0].rfind("done: 103 rows on 2 rank(s) in ", 0), 0u) << r.output;
  EXPECT_NE(lines[0].find("-> " + Out()), std::string::npos) << r.output;
}

// 1,000 rows in 8 chunks of 128 on 4 ranks: each rank gets chunks (handing
// out each rank's full depth in turn once gave two ranks all of them).
TEST_F(Log, EveryRankScoresRowsOfAThousandRowJobOnFourRanks) {
  const std::string in = (dir_ / "in.h5").string();
  testing::WriteFloatRows(in, "x", 1000, 4);
  const fs::path job = dir_ / "job.yaml";
  testing::WriteFile(job, "model:\n  path: " + Fixture("identity.pt") + "\ndevice: " + TestDevice() +
                              "\ninput:\n  path: " + in +
                              "\n  datasets: [x]\noutput:\n  path: out.h5\n  datasets: [y]\n");
  const auto r = RunMpsbatch(4, job, {"-v"});
  EXPECT_RUN_OK(r);
  const std::regex rank_line(R"(\[rank 0\] \[[a-z]+\]   rank ([0-9]): ([0-9]+) rows, )");
  std::map<int, int64_t> rows;
  for (auto it = std::sregex_iterator(r.output.begin(), r.output.end(), rank_line); it != std::sregex_iterator(); ++it)
    rows[std::stoi((*it)[1])] = std::stoll((*it)[2]);
  ASSERT_EQ(rows.size(), 4u) << r.output;
  int64_t total = 0;
  for (const auto& [rank, n] : rows) {
    EXPECT_GT(n, 0) << "rank " << rank << " idle:\n" << r.output;
    total += n;
  }
  EXPECT_EQ(total, 1000);
}

// 3 rows on 4 ranks: one chunk (a chunk holds whole batches), and the plan
// says how many ranks idle.
TEST_F(Log, ThePlanSaysWhenRanksWillIdle) {
  const auto r = RunMpsbatch(4, WriteJob(dir_, "mlp.pt", "[x_small]"));
  EXPECT_RUN_OK(r);
  EXPECT_NE(r.output.find("chunks: 1 of up to 3 rows; 3 of 4 rank(s) will idle"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace mpsbatch::e2e
