// An input file that changes while a per-input job runs, after its rows were
// read and its output committed: the job does not end well. It names the
// file, says that its committed output holds the scores of what the file held
// before, keeps the outputs of the unchanged files, and a --resume with
// output.overwrite: true scores only the changed file again.
#include "e2e_util.h"
#include "shards_util.h"
#include "write/journal.h"
#include "write/partial_file.h"

namespace mpsbatch::e2e {
namespace {

// A per-input job of hang.pt at batch_size 1 (0.1-0.3 s a row on a CPU).
fs::path WritePerInputJob(const fs::path& dir, const std::string& input, const fs::path& out) {
  return WritePerInputHangJob(dir, input, out, 1);
}

// Waits until `path` exists while `pid` runs; false if it ended or 60 s passed.
bool WaitForFile(pid_t pid, const fs::path& path) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!fs::exists(path)) {
    if (!Running(pid) || std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// Rows 10-13 of hang_unmarked.h5 in a file of their own, at `path`.
void WriteOtherRows(const fs::path& path) {
  InputFile source(Fixture("hang_unmarked.h5"));
  const DatasetInfo info = source.Describe("x");
  testing::WriteRowsAs(source, info, 10, 4, path.string(), info.dtype);
}

// Runs `job` (over files part-0000.h5, ... whose outputs are `outs`); once
// file 0's output is committed and file 1's first chunk recorded, renames
// other rows (WriteOtherRows), their modification time `later` past file 0's,
// over file 0 (`first`).
RunResult RunReplacingFirstFile(const fs::path& job, const std::string& first, const std::vector<std::string>& outs,
                                std::chrono::seconds later) {
  const fs::path log = job.parent_path() / "run.log";
  const pid_t pid = Start(MpsbatchArgs(job, {}), log);
  if (!WaitForFile(pid, outs[0]) || !WaitForJournalRecords(pid, JournalPath(outs[1]), 1)) {
    ADD_FAILURE() << "the job did not reach file 1";
    return Wait(pid, log, 120);
  }
  const fs::path replacement = job.parent_path() / "replacement.h5";
  WriteOtherRows(replacement);
  fs::last_write_time(replacement, fs::last_write_time(first) + later);
  fs::rename(replacement, first);
  return Wait(pid, log, 120);
}

}  // namespace

// File 0 of three is committed early; while file 1 (95 rows, 10-30 s) is
// scored, another file is renamed over file 0. The job ends with an input
// error naming file 0 and its output, which it says holds the scores of the
// earlier contents; the other outputs are committed. A --resume with
// output.overwrite: true scores file 0 again and keeps the other two.
TEST_F(E2E, PerInputFileReplacedAfterItsOutputWasCommittedFailsTheJob) {
  const auto data = dir_ / "data";
  fs::create_directories(data);
  const auto inputs = testing::WriteShards(Fixture("hang_unmarked.h5"), "x", data, {4, 95, 4});
  const std::string glob = (data / "part-*.h5").string();
  const auto job = WritePerInputJob(dir_, glob, dir_ / "o");
  const auto outs = PerInputOutputs(dir_ / "o", 3);
  const RunResult r = RunReplacingFirstFile(job, inputs[0], outs, std::chrono::seconds(3));
  EXPECT_EQ(r.exit_code, 4) << r.output;
  EXPECT_NE(r.output.find("input.path's file '" + inputs[0] + "' changed during the run (size "), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("its committed output " + outs[0] + " holds the scores of " + inputs[0] +
                          " as it was before the change"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("The outputs of the other 2 input file(s) are committed and stay"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("run the job again with --resume and output.overwrite: true"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("done:"), std::string::npos) << r.output;
  for (const auto& out : outs) EXPECT_TRUE(fs::exists(out)) << out;

  const std::string kept1 = ReadFloatsBytes(outs[1], "y"), kept2 = ReadFloatsBytes(outs[2], "y");
  const auto again = RunMpsbatch(1, job, {"--resume", "--set", "output.overwrite=true"}, 120);
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("scoring " + inputs[0] + " again and replacing its output " + outs[0]), std::string::npos)
      << again.output;
  EXPECT_EQ(ReadFloats(outs[0], "y"), TwiceTheFirstTwoPixels(inputs[0]));
  EXPECT_EQ(ReadFloatsBytes(outs[1], "y"), kept1);
  EXPECT_EQ(ReadFloatsBytes(outs[2], "y"), kept2);
}

// A copy of the same size and modification time renamed over a file whose
// output was committed is another file all the same (rank 0 knows the file's
// device and inode from the plan).
TEST_F(E2E, PerInputFileReplacedByOneOfTheSameSizeAndTimeFailsTheJob) {
  const auto data = dir_ / "data";
  fs::create_directories(data);
  const auto inputs = testing::WriteShards(Fixture("hang_unmarked.h5"), "x", data, {4, 40, 4});
  WriteOtherRows(dir_ / "probe.h5");
  ASSERT_EQ(fs::file_size(dir_ / "probe.h5"), fs::file_size(inputs[0]));  // the same size, other rows
  const auto outs = PerInputOutputs(dir_ / "o", 3);
  const RunResult r = RunReplacingFirstFile(WritePerInputJob(dir_, (data / "part-*.h5").string(), dir_ / "o"),
                                            inputs[0], outs, std::chrono::seconds(0));
  EXPECT_EQ(r.exit_code, 4) << r.output;
  EXPECT_NE(r.output.find("input.path's file '" + inputs[0] +
                          "' changed during the run (another file of the same size and modification time took its "
                          "name), after its rows were read: its committed output " +
                          outs[0]),
            std::string::npos)
      << r.output;
}

}  // namespace mpsbatch::e2e
