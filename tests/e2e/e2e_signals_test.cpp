// A job that stalls, is told to stop, or loses its reader: a stopped rank or a
// model that never returns ends the job by name (stall_timeout); SIGINT,
// SIGTERM and SIGHUP save the finished chunks for a --resume; a closed stdout
// or stderr costs the log, not the job. Each interrupted run is resumed to a
// file equal to the rows of a clean run.
#include <sys/stat.h>

#include <csignal>
#include <regex>

#include "e2e_util.h"
#include "write/journal.h"

namespace mpsbatch::e2e {
namespace {

void ExpectBitwise(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0);
}

// A job of hang.pt on `input`: by default 52 chunks of 2 rows, 0.1-0.3 s each
// on a CPU (a GPU takes a millisecond).
fs::path WriteHangJob(const fs::path& dir, const std::string& input, const std::string& extra = "", int rows = 2,
                      const std::string& device = TestDevice()) {
  const fs::path job = dir / "job.yaml";
  const std::string n = std::to_string(rows);
  testing::WriteFile(job, "model:\n  path: " + Fixture("hang.pt") + "\ndevice: " + device + "\nbatch_size: " + n +
                              "\nchunk_size: " + n + "\npath: eager\ninput:\n  path: " + input +
                              "\n  datasets: [x]\noutput:\n  path: out.h5\n  datasets: [y]\n" + extra);
  return job;
}

int64_t JournalRecords(const fs::path& dir) { return JournalRecordsBySize((dir / "out.h5.partial.chunks").string()); }

// Waits until the running job has recorded `records` chunks of out.h5.
bool WaitForRecords(pid_t pid, const fs::path& dir, int64_t records) {
  return WaitForJournalRecords(pid, dir / "out.h5.partial.chunks", records);
}

pid_t PidOfRank(const fs::path& job, int rank) {
  for (const auto& [pid, r] : RankProcesses(job.string()))
    if (r == rank) return pid;
  return 0;
}

// The partial file and journal are there, out.h5 is not, and a --resume
// completes them to `want`.
void ExpectResumableTo(const fs::path& dir, const fs::path& job, const std::vector<float>& want) {
  EXPECT_TRUE(fs::exists(dir / "out.h5.partial"));
  EXPECT_TRUE(fs::exists(dir / "out.h5.partial.chunks"));
  EXPECT_FALSE(fs::exists(dir / "out.h5"));
  const RunResult r = RunMpsbatch(2, job, {"--resume", "--set", "stall_timeout=auto"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("chunks done by an earlier run"), std::string::npos) << r.output;
  ExpectBitwise(ReadFloats((dir / "out.h5").string(), "y"), want);
  EXPECT_FALSE(fs::exists(dir / "out.h5.partial"));
}

// A rank stopped with SIGSTOP: rank 0 warns, then ends the job naming the
// rank and its chunk at stall_timeout, keeping the partial output.
TEST(Stall, AStoppedRankEndsTheJobByNameAndTheResumeCompletes) {
  const auto dir = testing::TestDir();
  const std::string input = Fixture("hang_unmarked.h5");
  const auto job = WriteHangJob(dir, input, "stall_timeout: 4\n");
  const fs::path log = dir / "run.log";
  const pid_t mpirun = Start(MpirunArgs(2, job), log);
  ASSERT_TRUE(WaitForRecords(mpirun, dir, 2)) << testing::ReadFile(log);
  const pid_t rank1 = PidOfRank(job, 1);
  ASSERT_NE(rank1, 0);
  ASSERT_EQ(kill(rank1, SIGSTOP), 0);
  const RunResult r = Wait(mpirun, log, 60);
  kill(rank1, SIGCONT);  // if mpirun left it
  EXPECT_EQ(r.exit_code, 9) << r.output;
  EXPECT_EQ(r.output.find("the run hung"), std::string::npos) << r.output;
  EXPECT_LT(r.seconds, 30) << r.output;
  EXPECT_TRUE(std::regex_search(r.output, std::regex(R"(waiting [0-9]+ s for rank 1 to finish chunk [0-9]+)")))
      << r.output;
  EXPECT_TRUE(std::regex_search(
      r.output, std::regex(R"(stalled: rank 1 has not finished chunk [0-9]+ in [0-9]+ s \(stall_timeout: 4 s)")))
      << r.output;
  EXPECT_NE(r.output.find("the rows written so far stay in " + (dir / "out.h5.partial").string()), std::string::npos)
      << r.output;
  ASSERT_TRUE(WaitForNoRanks(job.string()));
  ExpectResumableTo(dir, job, TwiceTheFirstTwoPixels(input));
}

// A model that never returns for one batch (hang.pt on the marked input),
// on rank 0 alone and among 2 ranks: the job ends by name at stall_timeout;
// a resume on the same input without the marker (same size and time, so the
// resume accepts it) completes the file.
class StallingModel : public ::testing::TestWithParam<int> {};

TEST_P(StallingModel, EndsTheJobByNameAndTheResumeCompletes) {
  const int ranks = GetParam();
  const auto dir = testing::TestDir();
  const fs::path input = dir / "in.h5";
  fs::copy_file(Fixture("hang_marked.h5"), input);
  const auto job = WriteHangJob(dir, input.string(), "stall_timeout: 3\n");
  const RunResult r = RunMpsbatch(ranks, job, {}, 60);
  EXPECT_EQ(r.exit_code, 9) << r.output;
  EXPECT_EQ(r.output.find("the run hung"), std::string::npos) << r.output;
  // Row 101 is in chunk 50. A rank names the oldest chunk it holds: on a
  // GPU, whose engine keeps two batches in flight, that may be one before.
  EXPECT_TRUE(std::regex_search(
      r.output,
      std::regex(R"(stalled: rank [01] has not finished chunk (4[6-9]|50) in [0-9]+ s \(stall_timeout: 3 s)")))
      << r.output;
  ASSERT_TRUE(WaitForNoRanks(job.string()));
  EXPECT_GE(JournalRecords(dir), 1);

  const auto mtime = fs::last_write_time(input);
  fs::copy_file(Fixture("hang_unmarked.h5"), input, fs::copy_options::overwrite_existing);
  fs::last_write_time(input, mtime);
  ExpectResumableTo(dir, job, TwiceTheFirstTwoPixels(input.string()));
}

INSTANTIATE_TEST_SUITE_P(E2E, StallingModel, ::testing::Values(1, 2));

// SIGINT, SIGTERM or SIGHUP to mpirun mid-run (Ctrl-C, scancel, a wall-time
// limit): mpirun sends the ranks SIGCONT, then SIGTERM a second later; rank 0
// records every finished chunk and says how many. mpirun itself exits 1
// after any of these signals, whatever the ranks do.
class SignalToMpirun : public ::testing::TestWithParam<int> {};

TEST_P(SignalToMpirun, SavesTheFinishedChunksForAResume) {
  const int signal = GetParam();
  const auto dir = testing::TestDir();
  // The marked input: the job cannot end before the signal reaches it (the
  // model spins at row 101, and mpirun passes SIGTERM on a second late).
  const fs::path input = dir / "in.h5";
  fs::copy_file(Fixture("hang_marked.h5"), input);
  const auto job = WriteHangJob(dir, input.string());
  const fs::path log = dir / "run.log";
  const pid_t mpirun = Start(MpirunArgs(2, job), log);
  ASSERT_TRUE(WaitForRecords(mpirun, dir, 2)) << testing::ReadFile(log);
  ASSERT_EQ(kill(mpirun, signal), 0);
  const RunResult r = Wait(mpirun, log, 30);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_LT(r.seconds, 10) << r.output;
  std::smatch stopped;
  ASSERT_TRUE(std::regex_search(r.output, stopped,
                                std::regex("stopped: ([0-9]+) of 52 chunks saved in " +
                                           (dir / "out.h5.partial").string() + "; run again with --resume")))
      << r.output;
  EXPECT_EQ(std::stoll(stopped[1].str()), JournalRecords(dir));
  EXPECT_GE(JournalRecords(dir), 2);
  ASSERT_TRUE(WaitForNoRanks(job.string()));
  const auto mtime = fs::last_write_time(input);
  fs::copy_file(Fixture("hang_unmarked.h5"), input, fs::copy_options::overwrite_existing);
  fs::last_write_time(input, mtime);
  ExpectResumableTo(dir, job, TwiceTheFirstTwoPixels(input.string()));
}

// An input rewritten while its rows are scored (here: only its modification
// time, as an edit in place with HDF5's locks off would change it): the rows
// may mix both versions, so nothing is committed and the job says why.
TEST(InputChangedMidRun, IsAnInputErrorAndNothingIsCommitted) {
  const auto dir = testing::TestDir();
  const fs::path input = dir / "in.h5";
  fs::copy_file(Fixture("hang_unmarked.h5"), input);
  // One CPU thread per rank: seconds on any host, so the change lands mid-run.
  const auto job = WriteHangJob(dir, input.string(), "threads: 1\n", 2, "cpu");
  const fs::path log = dir / "run.log";
  const pid_t mpirun = Start(MpirunArgs(2, job), log);
  ASSERT_TRUE(WaitForRecords(mpirun, dir, 2)) << testing::ReadFile(log);
  // The ranks held still while the input changes: with chunks not yet
  // recorded, the job's last check of its inputs is still ahead of it (a job
  // left running could finish first on a loaded machine).
  const auto ranks = RankProcesses(job.string());
  for (const auto& [pid, rank] : ranks) kill(pid, SIGSTOP);
  const int64_t recorded = JournalRecords(dir);
  fs::last_write_time(input, fs::last_write_time(input) + std::chrono::seconds(1));
  for (const auto& [pid, rank] : ranks) kill(pid, SIGCONT);
  if (ranks.empty() || recorded == 52) {
    Wait(mpirun, log, 120);
    GTEST_SKIP() << "the change may have come after the job's end: " << ranks.size() << " rank processes found, "
                 << recorded << " of 52 chunks recorded";
  }
  const RunResult r = Wait(mpirun, log, 120);
  EXPECT_EQ(r.exit_code, 4) << r.output;
  EXPECT_NE(r.output.find("input.path '" + input.string() + "' changed during the run"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "out.h5"));
}

INSTANTIATE_TEST_SUITE_P(E2E, SignalToMpirun, ::testing::Values(SIGINT, SIGTERM, SIGHUP));

// The same signals to mpsbatch run without mpirun: it ends by the signal
// (exit 130, 143, 129 in a shell) after saving.
class SignalToOneRank : public ::testing::TestWithParam<int> {};

TEST_P(SignalToOneRank, SavesTheFinishedChunksAndEndsByTheSignal) {
  const int signal = GetParam();
  const auto dir = testing::TestDir();
  const std::string input = Fixture("hang_unmarked.h5");
  const auto job = WriteHangJob(dir, input);
  const fs::path log = dir / "run.log";
  const pid_t pid = Start(MpsbatchArgs(job, {}), log);
  ASSERT_TRUE(WaitForRecords(pid, dir, 2)) << testing::ReadFile(log);
  ASSERT_EQ(kill(pid, signal), 0);
  const RunResult r = Wait(pid, log, 30);
  EXPECT_EQ(r.exit_code, 128 + signal) << r.output;
  EXPECT_LT(r.seconds, 5) << r.output;
  std::smatch stopped;
  ASSERT_TRUE(std::regex_search(r.output, stopped,
                                std::regex("stopped: ([0-9]+) of 52 chunks saved in .*out.h5.partial; run again "
                                           "with --resume")))
      << r.output;
  EXPECT_EQ(std::stoll(stopped[1].str()), JournalRecords(dir));
  ExpectResumableTo(dir, job, TwiceTheFirstTwoPixels(input));
}

INSTANTIATE_TEST_SUITE_P(E2E, SignalToOneRank, ::testing::Values(SIGINT, SIGTERM, SIGHUP));

// stdout and stderr into a pipe whose reader leaves after the first line:
// the job still completes a correct file. Without mpirun, mpsbatch exits 0.
// Under mpirun the ranks' output reaches the pipe through mpirun, which the
// closed pipe ends by itself (Open MPI 4.1: killed by SIGPIPE, 141, or a
// segfault, 139, at its exit) after the ranks exited 0 with the file
// committed: its exit code is mpirun's, not the job's.
class ClosedPipe : public ::testing::TestWithParam<int> {};

TEST_P(ClosedPipe, CostsTheLogNotTheJob) {
  const int ranks = GetParam();
  const auto dir = testing::TestDir();
  const std::string input = Fixture("hang_unmarked.h5");
  const auto job = WriteHangJob(dir, input, "", 8);
  std::vector<std::string> argv = ranks == 1 ? MpsbatchArgs(job, {"-v"}) : MpirunArgs(ranks, job, {"-v"});
  std::string command;
  for (const auto& a : argv) command += "'" + a + "' ";
  const RunResult r = Spawn({"bash", "-c", command + "2>&1 | head -1; exit ${PIPESTATUS[0]}"}, dir / "run.log", 120);
  if (ranks == 1)
    EXPECT_EQ(r.exit_code, 0) << r.output;
  else
    EXPECT_TRUE(r.exit_code == 0 || r.exit_code == 128 + SIGPIPE || r.exit_code == 128 + SIGSEGV) << r.output;
  ASSERT_TRUE(fs::exists(dir / "out.h5")) << r.output;
  EXPECT_FALSE(fs::exists(dir / "out.h5.partial"));
  ExpectBitwise(ReadFloats((dir / "out.h5").string(), "y"), TwiceTheFirstTwoPixels(input));
}

INSTANTIATE_TEST_SUITE_P(E2E, ClosedPipe, ::testing::Values(1, 2));

// kill -9 of rank 1 the moment the output appears (a process that would end
// after the commit, making mpirun exit 137 with a complete file): the ranks of
// rank 0's host have exited before rank 0 moves the file into place, so there
// is none left to kill and the job ends 0.
TEST(Commit, NoRankOfRankZerosHostOutlivesTheOutput) {
  const auto dir = testing::TestDir();
  const std::string input = Fixture("hang_unmarked.h5");
  const auto job = WriteHangJob(dir, input, "", 8);
  const fs::path log = dir / "run.log";
  const pid_t mpirun = Start(MpirunArgs(2, job), log);
  bool killed = false;
  while (Running(mpirun) && !killed) {
    if (fs::exists(dir / "out.h5")) {
      for (const auto& [pid, rank] : RankProcesses(job.string()))
        if (rank == 1) killed = kill(pid, SIGKILL) == 0;
      break;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  const RunResult r = Wait(mpirun, log, 60);
  EXPECT_FALSE(killed) << "rank 1 was still running when the output appeared";
  EXPECT_EQ(r.exit_code, 0) << r.output;
  ExpectBitwise(ReadFloats((dir / "out.h5").string(), "y"), TwiceTheFirstTwoPixels(input));
}

}  // namespace
}  // namespace mpsbatch::e2e
