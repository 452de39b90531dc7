// An input of many files (input.path a glob or a list): the output equals,
// bit for bit, the output of one file holding the same rows, on any rank
// count, input mode and schedule, with files smaller than a chunk and a file
// without rows; a dry run names the first bad file (truncated, corrupt, of
// another dtype); a killed run resumes across the files; a file changed or
// removed before a resume or during a run is refused by name.
#include <sys/stat.h>

#include <csignal>
#include <fstream>
#include <regex>

#include "e2e_util.h"
#include "shards_util.h"
#include "write/journal.h"

namespace mpsbatch::e2e {
namespace {

// Rows per file for 1, 3 and 17 files: 103 rows in all (inputs.h5's), files
// smaller than a chunk (16 rows) and one without rows among them.
std::vector<int64_t> Counts(int files) {
  if (files == 1) return {103};
  if (files == 3) return {40, 5, 58};
  return {9, 1, 15, 0, 16, 3, 7, 2, 11, 4, 6, 5, 8, 2, 10, 1, 3};
}

// two_outputs.pt on x_f32, one row per batch and the eager path: the file ends cut
// the batches of the sharded run elsewhere than those of the whole file, and
// a model's bits may depend on its batch size, not on the rows' files.
const std::vector<std::string> kOneRowBatches{"--set", "batch_size=1", "--set", "path=eager"};

std::vector<std::string> With(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

// Waits until the running job has recorded `records` chunks of out.h5.
bool WaitForRecords(pid_t pid, const fs::path& dir, int64_t records) {
  return WaitForJournalRecords(pid, dir / "out.h5.partial.chunks", records);
}

// A job of hang.pt (twice the first two pixels of each row; 0.1-0.3 s a
// chunk on a CPU) over `input`, chunks of 2 rows.
fs::path WriteHangJob(const fs::path& dir, const std::string& input, const std::string& extra = "",
                      const std::string& device = TestDevice()) {
  const fs::path job = dir / "job.yaml";
  testing::WriteFile(job, "model:\n  path: " + Fixture("hang.pt") + "\ndevice: " + device +
                              "\nbatch_size: 2\nchunk_size: 2\npath: eager\ninput:\n  path: " + input +
                              "\n  datasets: [x]\noutput:\n  path: out.h5\n  datasets: [y]\n" + extra);
  return job;
}

}  // namespace

struct ShardCase {
  int files;
  int ranks;
  const char* mode;                  // input.mode
  const char* schedule = "dynamic";  // schedule
};

void PrintTo(const ShardCase& c, std::ostream* os) {
  *os << c.files << " files, " << c.ranks << " rank(s), input.mode " << c.mode << ", schedule " << c.schedule;
}

class ShardedInput : public ::testing::TestWithParam<ShardCase> {
 protected:
  void SetUp() override { SilenceHdf5Errors(); }
};

TEST_P(ShardedInput, EqualsOneFileOfTheSameRowsBitForBit) {
  const auto [files, ranks, mode, schedule] = GetParam();
  const auto dir = testing::TestDir();
  const auto data = dir / "data";
  fs::create_directories(data);
  testing::WriteShards(Fixture("inputs.h5"), "x_f32", data, Counts(files));
  const auto job = WriteJob(dir, "two_outputs.pt", "[x_f32]", "[logits, probs]");
  // The whole file: one rank, the reference.
  auto whole = RunMpsbatch(1, job,
                           With(kOneRowBatches, {"--set", "input.path=" + (data / "whole.h5").string(), "--set",
                                                 "output.path=" + (dir / "whole-out.h5").string()}));
  ASSERT_EQ(whole.exit_code, 0) << whole.output;
  auto r = RunMpsbatch(
      ranks, job,
      With(kOneRowBatches, {"--set", "input.path=" + (data / "part-*.h5").string(), "--set",
                            "input.mode=" + std::string(mode), "--set", "schedule=" + std::string(schedule)}));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* name : {"logits", "probs"})
    EXPECT_EQ(ReadFloatsBytes((dir / "out.h5").string(), name), ReadFloatsBytes((dir / "whole-out.h5").string(), name))
        << name;
  if (files > 1) {
    EXPECT_NE(r.output.find(std::to_string(files) + " files (" + (data / "part-0000.h5").string()), std::string::npos)
        << r.output;
  }
}

INSTANTIATE_TEST_SUITE_P(E2E, ShardedInput,
                         ::testing::Values(ShardCase{1, 1, "auto"}, ShardCase{1, 3, "auto"}, ShardCase{3, 2, "auto"},
                                           ShardCase{3, 4, "auto"}, ShardCase{17, 1, "auto"}, ShardCase{17, 2, "auto"},
                                           ShardCase{17, 3, "auto"}, ShardCase{17, 4, "auto"},
                                           ShardCase{17, 3, "scatter"}, ShardCase{3, 2, "scatter"},
                                           ShardCase{17, 4, "scatter"}, ShardCase{17, 2, "auto", "static"},
                                           ShardCase{17, 4, "auto", "static"}, ShardCase{17, 3, "scatter", "static"}),
                         [](const auto& info) {
                           return std::to_string(info.param.files) + "files_" + std::to_string(info.param.ranks) +
                                  "ranks_" + info.param.mode + "_" + info.param.schedule;
                         });

// A list of files (and globs) keeps its order, which is the rows' order.
TEST_F(E2E, AListOfFilesKeepsItsOrder) {
  const auto data = dir_ / "data";
  fs::create_directories(data);
  const auto paths = testing::WriteShards(Fixture("inputs.h5"), "x_f32", data, Counts(3));
  const auto job = WriteJob(dir_, "two_outputs.pt", "[x_f32]", "[logits, probs]");
  auto r = RunMpsbatch(2, job,
                       With(kOneRowBatches, {"--set", "input.path=['" + paths[0] + "', '" +
                                                          (data / "part-000[12].h5").string() + "']"}));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto whole = RunMpsbatch(1, job,
                           With(kOneRowBatches, {"--set", "input.path=" + (data / "whole.h5").string(), "--set",
                                                 "output.path=" + (dir_ / "whole-out.h5").string()}));
  ASSERT_EQ(whole.exit_code, 0) << whole.output;
  EXPECT_EQ(ReadFloatsBytes(Out(), "logits"), ReadFloatsBytes((dir_ / "whole-out.h5").string(), "logits"));
}

// Planning says that it checks many files before it does (a dry run of 2,000
// files was otherwise silent for seconds before its plan) and how long it
// took; a job of few files logs neither line.
TEST_F(E2E, PlanningManyFilesSaysSoBeforeThePlan) {
  const auto data = dir_ / "data";
  fs::create_directories(data);
  std::vector<int64_t> counts(300, 0);
  std::fill(counts.begin(), counts.begin() + 103, 1);  // inputs.h5's rows, one a file
  testing::WriteShards(Fixture("inputs.h5"), "x_f32", data, counts);
  const auto job = WriteJob(dir_, "two_outputs.pt", "[x_f32]", "[logits, probs]");
  auto r = RunMpsbatch(1, job, {"--dry-run", "--set", "input.path=" + (data / "part-*.h5").string()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const size_t checking = r.output.find("] checking 300 input files: each opened");
  const size_t checked = r.output.find("]   checked 300 input files in ");
  ASSERT_NE(checking, std::string::npos) << r.output;
  ASSERT_NE(checked, std::string::npos) << r.output;
  EXPECT_LT(checking, checked) << r.output;
  EXPECT_LT(checked, r.output.find("plan: 103 rows")) << r.output;

  r = RunMpsbatch(1, job, {"--dry-run", "--set", "input.path=" + (data / "part-000*.h5").string()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("input files"), std::string::npos) << r.output;
}

// --dry-run opens every file and names the first bad one: a truncated file,
// a file whose dataset has another dtype.
TEST_F(E2E, DryRunNamesATruncatedShard) {
  const auto data = dir_ / "data";
  fs::create_directories(data);
  const auto paths = testing::WriteShards(Fixture("inputs.h5"), "x_f32", data, Counts(17));
  fs::resize_file(paths[5], fs::file_size(paths[5]) / 2);
  const auto job = WriteJob(dir_, "two_outputs.pt", "[x_f32]", "[logits, probs]");
  auto r = RunMpsbatch(1, job, {"--dry-run", "--set", "input.path=" + (data / "part-*.h5").string()});
  EXPECT_EQ(r.exit_code, 4) << r.output;
  EXPECT_NE(r.output.find(paths[5]), std::string::npos) << r.output;
  for (size_t i = 0; i < paths.size(); ++i) {
    if (i != 5) {
      EXPECT_EQ(r.output.find(paths[i]), std::string::npos) << paths[i] << "\n" << r.output;
    }
  }
  EXPECT_FALSE(fs::exists(Out()));
}

TEST_F(E2E, DryRunNamesAShardOfAnotherDtype) {
  const auto data = dir_ / "data";
  fs::create_directories(data);
  const auto paths = testing::WriteShards(Fixture("inputs.h5"), "x_f32", data, Counts(3));
  {
    InputFile in(Fixture("inputs.h5"));
    testing::WriteRowsAs(in, in.Describe("x_f32"), 40, 5, paths[1], DType::kFloat64);
  }
  const auto job = WriteJob(dir_, "two_outputs.pt", "[x_f32]", "[logits, probs]");
  auto r = RunMpsbatch(1, job, {"--dry-run", "--set", "input.path=" + (data / "part-*.h5").string()});
  EXPECT_EQ(r.exit_code, 4) << r.output;
  EXPECT_NE(r.output.find(paths[1] + ": dataset 'x_f32' holds float64 rows of [8, 8], but " + paths[0] +
                          " holds float32 rows of [8, 8]"),
            std::string::npos)
      << r.output;
}

// A shard whose first bytes were overwritten (HDF5's signature gone) is
// named by the dry run as no HDF5 file, the others not at all.
TEST_F(E2E, DryRunNamesACorruptShard) {
  const auto data = dir_ / "data";
  fs::create_directories(data);
  const auto paths = testing::WriteShards(Fixture("inputs.h5"), "x_f32", data, Counts(17));
  {
    std::fstream f(paths[9], std::ios::in | std::ios::out | std::ios::binary);
    const std::string garbage(512, '\x5a');
    f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  const auto job = WriteJob(dir_, "two_outputs.pt", "[x_f32]", "[logits, probs]");
  auto r = RunMpsbatch(2, job, {"--dry-run", "--set", "input.path=" + (data / "part-*.h5").string()});
  EXPECT_EQ(r.exit_code, 4) << r.output;
  EXPECT_NE(r.output.find("input error: input.path '" + paths[9] + "': not an HDF5 file"), std::string::npos)
      << r.output;
  for (size_t i = 0; i < paths.size(); ++i) {
    if (i != 9) {
      EXPECT_EQ(r.output.find(paths[i]), std::string::npos) << paths[i] << "\n" << r.output;
    }
  }
}

// A shard removed after the dry run: a glob is expanded when the job runs,
// so the run plans the files still there (and says how many); a list that
// names the removed file is refused by name.
TEST_F(E2E, AShardRemovedAfterTheDryRun) {
  const auto data = dir_ / "data";
  fs::create_directories(data);
  const auto paths = testing::WriteShards(Fixture("inputs.h5"), "x_f32", data, Counts(17));
  const auto job = WriteJob(dir_, "two_outputs.pt", "[x_f32]", "[logits, probs]");
  const std::vector<std::string> glob{"--set", "input.path=" + (data / "part-*.h5").string()};
  auto r = RunMpsbatch(2, job, With({"--dry-run"}, glob));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("17 files (" + paths[0]), std::string::npos) << r.output;
  fs::remove(paths[4]);  // 16 of the 103 rows
  r = RunMpsbatch(2, job, glob);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("16 files (" + paths[0] + " ... " + paths[16] + ")"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("done: 87 rows on 2 rank(s)"), std::string::npos) << r.output;
  std::string list;
  for (const auto& path : paths) list += (list.empty() ? "" : ", ") + std::string("'") + path + "'";
  r = RunMpsbatch(2, job, {"--set", "input.path=[" + list + "]", "--set", "output.overwrite=true"});
  EXPECT_EQ(r.exit_code, 4) << r.output;
  EXPECT_NE(r.output.find("input.path '" + paths[4] + "': file not found"), std::string::npos) << r.output;
}

// A shard removed while the job runs: an input error naming it, nothing
// committed.
TEST_F(E2E, AShardRemovedMidRunIsAnInputErrorNamingIt) {
  const auto data = dir_ / "data";
  fs::create_directories(data);
  const auto paths = testing::WriteShards(Fixture("hang_unmarked.h5"), "x", data, {20, 30, 53});
  const auto job = WriteHangJob(dir_, (data / "part-*.h5").string(), "threads: 1\n", "cpu");
  const fs::path log = dir_ / "run.log";
  auto argv = MpirunArgs(2, job);
  const pid_t mpirun = Start(argv, log);
  ASSERT_TRUE(WaitForRecords(mpirun, dir_, 2)) << testing::ReadFile(log);
  fs::remove(paths[2]);
  const RunResult r = Wait(mpirun, log, 120);
  EXPECT_EQ(r.exit_code, 4) << r.output;
  // Seen when it is opened or, opened before, when the output is sealed.
  const bool named =
      r.output.find("input.path '" + paths[2] + "' changed during the run (it is gone)") != std::string::npos ||
      r.output.find("input.path's file '" + paths[2] + "' is gone since the job was planned") != std::string::npos;
  EXPECT_TRUE(named) << r.output;
  EXPECT_FALSE(fs::exists(Out()));
}

// A run killed (SIGKILL) once it has finished chunks of several files
// resumes, on another rank count, to the rows of a clean run.
TEST_F(E2E, ResumeAfterAKillAcrossShards) {
  const auto data = dir_ / "data";
  fs::create_directories(data);
  testing::WriteShards(Fixture("hang_unmarked.h5"), "x", data, {21, 0, 3, 30, 1, 48});
  const auto job = WriteHangJob(dir_, (data / "part-*.h5").string());
  const fs::path log = dir_ / "run.log";
  const pid_t pid = Start(MpsbatchArgs(job, {}), log);
  ASSERT_TRUE(WaitForRecords(pid, dir_, 14)) << testing::ReadFile(log);  // past the first two files
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  Wait(pid, log, 30);
  ASSERT_TRUE(fs::exists(dir_ / "out.h5.partial"));
  ASSERT_FALSE(fs::exists(Out()));
  const RunResult r = RunMpsbatch(2, job, {"--resume"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(std::regex_search(r.output, std::regex("resume: (1[4-9]|[2-9][0-9]) of [0-9]+ chunks done by an "
                                                     "earlier run")))
      << r.output;
  const std::vector<float> got = ReadFloats(Out(), "y"), want = TwiceTheFirstTwoPixels((data / "whole.h5").string());
  ASSERT_EQ(got.size(), want.size());
  EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0);
}

// A file touched between the run and its resume is refused by name.
TEST_F(E2E, ResumeRefusesAChangedShardNamingIt) {
  const auto data = dir_ / "data";
  fs::create_directories(data);
  const auto paths = testing::WriteShards(Fixture("inputs.h5"), "x_f32", data, Counts(3));
  const auto job = WriteJob(dir_, "two_outputs.pt", "[x_f32]", "[logits, probs]");
  const std::vector<std::string> glob{"--set", "input.path=" + (data / "part-*.h5").string()};
  auto r = RunMpsbatch(2, job, glob);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  fs::rename(Out(), dir_ / "out.h5.partial");  // as a run that did all but the commit leaves it
  fs::last_write_time(paths[1], fs::last_write_time(paths[1]) + std::chrono::seconds(3));
  r = RunMpsbatch(2, job, With({"--resume"}, glob));
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("cannot resume " + (dir_ / "out.h5.partial").string() + ": input.path's file " + paths[1] +
                          " was 'rows 5, size "),
            std::string::npos)
      << r.output;
  // A file gone is named too.
  fs::last_write_time(paths[1], fs::last_write_time(paths[1]) - std::chrono::seconds(3));
  fs::remove(paths[2]);
  r = RunMpsbatch(2, job, With({"--resume"}, glob));
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("input.path's file " + paths[2] + " was among the input files when the output was started"),
            std::string::npos)
      << r.output;
}

// A file rewritten while the job runs: the job ends with an input error
// naming it, and commits nothing.
TEST_F(E2E, AShardChangedMidRunIsAnInputErrorNamingIt) {
  const auto data = dir_ / "data";
  fs::create_directories(data);
  const auto paths = testing::WriteShards(Fixture("hang_unmarked.h5"), "x", data, {20, 30, 53});
  // One CPU thread per rank: seconds on any host, so the change lands mid-run.
  const auto job = WriteHangJob(dir_, (data / "part-*.h5").string(), "threads: 1\n", "cpu");
  const fs::path log = dir_ / "run.log";
  auto argv = MpirunArgs(2, job);
  const pid_t mpirun = Start(argv, log);
  ASSERT_TRUE(WaitForRecords(mpirun, dir_, 2)) << testing::ReadFile(log);
  fs::last_write_time(paths[2], fs::last_write_time(paths[2]) + std::chrono::seconds(1));
  const RunResult r = Wait(mpirun, log, 120);
  EXPECT_EQ(r.exit_code, 4) << r.output;
  // Seen when it is opened (its rows come last) or, opened before, when the
  // output is sealed.
  const bool named =
      r.output.find("input.path '" + paths[2] + "' changed during the run") != std::string::npos ||
      r.output.find("input.path's file '" + paths[2] + "' was modified since the job was planned") != std::string::npos;
  EXPECT_TRUE(named) << r.output;
  EXPECT_FALSE(fs::exists(Out()));
}

}  // namespace mpsbatch::e2e
