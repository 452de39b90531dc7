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

// The per-input outputs' names in `dir`, as {stem}.h5 names them.
std::vector<std::string> Outputs(const fs::path& dir, size_t files) {
  std::vector<std::string> out;
  for (size_t i = 0; i < files; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "part-%04zu.h5", i);
    out.push_back((dir / name).string());
  }
  return out;
}

// A job of hang.pt (twice the first two pixels of each row; 0.1-0.3 s a
// row on a CPU at batch_size 1) over the files `input`, one output per file
// in `out`.
fs::path WritePerInputJob(const fs::path& dir, const std::string& input, const fs::path& out) {
  const fs::path job = dir / "job.yaml";
  testing::WriteFile(job, "model:\n  path: " + Fixture("hang.pt") + "\ndevice: " + TestDevice() +
                              "\nthreads: 1\nbatch_size: 1\nchunk_size: 2\npath: eager\ninput:\n  path: " + input +
                              "\n  datasets: [x]\noutput:\n  path: " + (out / "{stem}.h5").string() +
                              "\n  per_input: true\n  datasets: [y]\n");
  return job;
}

// hang.pt's output for the rows of `input`: twice the first two pixels of each.
std::vector<float> HangOutput(const std::string& input) {
  const std::vector<float> x = ReadFloats(input, "x");
  std::vector<float> y;
  for (size_t row = 0; row < x.size() / 64; ++row) {
    y.push_back(x[row * 64] * 2.0f);
    y.push_back(x[row * 64 + 1] * 2.0f);
  }
  return y;
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
  const auto outs = Outputs(dir_ / "o", 3);
  const fs::path log = dir_ / "run.log";
  const pid_t pid = Start(MpsbatchArgs(job, {}), log);
  ASSERT_TRUE(WaitForFile(pid, outs[0])) << testing::ReadFile(log);
  ASSERT_TRUE(WaitForJournalRecords(pid, JournalPath(outs[1]), 1)) << testing::ReadFile(log);
  // Rows 10-13 of the fixture, written elsewhere and renamed over file 0.
  const auto replacement = dir_ / "replacement.h5";
  {
    InputFile source(Fixture("hang_unmarked.h5"));
    const DatasetInfo info = source.Describe("x");
    testing::WriteRowsAs(source, info, 10, 4, replacement.string(), info.dtype);
  }
  fs::last_write_time(replacement, fs::last_write_time(inputs[0]) + std::chrono::seconds(3));
  fs::rename(replacement, inputs[0]);
  const RunResult r = Wait(pid, log, 120);
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
  EXPECT_EQ(ReadFloats(outs[0], "y"), HangOutput(inputs[0]));
  EXPECT_EQ(ReadFloatsBytes(outs[1], "y"), kept1);
  EXPECT_EQ(ReadFloatsBytes(outs[2], "y"), kept2);
}

}  // namespace mpsbatch::e2e
