// output.per_input: one output file per input file. The files, put end to
// end, equal the one output of the same job bit for bit on any rank count;
// each is committed as soon as its rows are in (a job killed in the middle
// of file 7 leaves files 0-6 final and a resume completes the rest to the
// clean run's bits); the job refuses a pattern that maps two inputs to one
// output or an output onto its input, outputs its input's glob matches,
// existing outputs without output.overwrite, an output name a single
// output.path could not have, a second run of the same pattern, and a --resume over another job's output;
// its dry run creates nothing in the output folder. Two jobs that write one
// file, through two patterns or as a per-input file and a single output, do
// not both write it: the second is refused and the first ends with a clean
// run's bits.
// A --resume judges each file by its own input file and starts afresh a
// partial file a kill left without its metadata.
#include <csignal>
#include <regex>

#include "e2e_util.h"
#include "shards_util.h"
#include "write/journal.h"
#include "write/output_lock.h"
#include "write/partial_file.h"

namespace mpsbatch::e2e {
namespace {

// Rows per file: 103 rows in all, files smaller than a chunk (16 rows) and
// one without rows among them.
std::vector<int64_t> Counts(int files) {
  if (files == 1) return {103};
  if (files == 3) return {40, 5, 58};
  return {9, 1, 15, 0, 16, 3, 7, 2, 11, 4, 6, 5, 8, 2, 10, 1, 3};
}

std::vector<std::string> With(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

// Dataset `name` of `path` as raw bytes, of any dtype.
std::string Bytes(const std::string& path, const std::string& name) {
  InputFile f(path);
  const DatasetInfo info = f.Describe(name);
  if (info.shape[0] == 0) return "";
  const HostArray a = f.ReadRows(info, 0, info.shape[0]);
  return std::string(reinterpret_cast<const char*>(a.bytes.data()), a.bytes.size());
}

std::vector<std::string> PerInput(const fs::path& out_dir) {
  return {"--set", "output.per_input=true", "--set", "output.path=" + (out_dir / "{stem}.h5").string()};
}

// A per-input job of hang.pt in batches of 2 rows (0.1-0.3 s a chunk on a CPU).
fs::path WriteHangJob(const fs::path& dir, const std::string& input, const fs::path& out) {
  return WritePerInputHangJob(dir, input, out, 2);
}

// Rewrites input file `path` with `rows` rows of the fixture's x_f32 from row
// `first`, its modification time 3 s past the old one: a shard regenerated.
void RegenerateShard(const std::string& path, int64_t first, int64_t rows) {
  const auto mtime = fs::last_write_time(path);
  InputFile source(Fixture("inputs.h5"));
  const DatasetInfo info = source.Describe("x_f32");
  testing::WriteRowsAs(source, info, first, rows, path, info.dtype);
  fs::last_write_time(path, mtime + std::chrono::seconds(3));
}

}  // namespace

struct PerInputCase {
  int files;
  int ranks;
};

class PerInputOutput : public ::testing::TestWithParam<PerInputCase> {
 protected:
  void SetUp() override { SilenceHdf5Errors(); }
};

// Each file holds its input file's rows, the failed flags of on_error: skip
// among them, and the files end to end are the one output of the same job.
TEST_P(PerInputOutput, FilesEndToEndEqualTheOneOutputBitForBit) {
  const auto [files, ranks] = GetParam();
  const auto dir = testing::TestDir();
  const auto data = dir / "data";
  fs::create_directories(data);
  const auto inputs = testing::WriteShards(Fixture("inputs.h5"), "x_f32", data, Counts(files));
  const auto job = WriteJob(dir, "two_outputs.pt", "[x_f32]", "[logits, probs]", "on_error: skip\n");
  const std::vector<std::string> args{
      "--set", "input.path=" + (data / "part-*.h5").string(), "--set", "batch_size=1", "--set", "path=eager"};
  auto one = RunMpsbatch(ranks, job, args);
  ASSERT_EQ(one.exit_code, 0) << one.output;
  auto r = RunMpsbatch(ranks, job, With(With(args, PerInput(dir / "shards")), {"-v"}));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto outs = PerInputOutputs(dir / "shards", inputs.size());
  for (const char* name : {"logits", "probs", "failed"}) {
    std::string joined;
    for (const auto& out : outs) joined += Bytes(out, name);
    EXPECT_EQ(joined, Bytes((dir / "out.h5").string(), name)) << name;
  }
  for (size_t i = 0; i < outs.size(); ++i) {
    EXPECT_EQ(StringAttribute(outs[i], "input_file"), inputs[i]);
    EXPECT_EQ(IntAttribute(outs[i], "rows"), Counts(files)[i]);
    EXPECT_EQ(IntAttribute(outs[i], "failed_rows"), 0);
    EXPECT_NE(r.output.find("committed " + outs[i] + " ("), std::string::npos) << outs[i] << "\n" << r.output;
    EXPECT_FALSE(fs::exists(outs[i] + ".partial"));
  }
  EXPECT_FALSE(fs::exists(dir / "shards" / "{stem}.h5.lock"));
  EXPECT_NE(r.output.find(") -> " + std::to_string(files) + " files, " + (dir / "shards" / "{stem}.h5").string()),
            std::string::npos)
      << r.output;
  const std::string report = testing::ReadFile(dir / "shards" / "all.report.json");
  EXPECT_NE(report.find("\"files_committed\": " + std::to_string(files)), std::string::npos) << report;
  EXPECT_NE(report.find("\"path\": \"" + outs.back() + "\""), std::string::npos) << report;
}

INSTANTIATE_TEST_SUITE_P(E2E, PerInputOutput,
                         ::testing::Values(PerInputCase{1, 1}, PerInputCase{1, 3}, PerInputCase{3, 2},
                                           PerInputCase{3, 4}, PerInputCase{17, 1}, PerInputCase{17, 2},
                                           PerInputCase{17, 3}, PerInputCase{17, 4}),
                         [](const auto& info) {
                           return std::to_string(info.param.files) + "files_" + std::to_string(info.param.ranks) +
                                  "ranks";
                         });

// The dry run names the first and last output and their count, and makes
// the checks the run makes: two inputs on one output, an output on its
// input.
TEST_F(E2E, PerInputDryRunShowsTheFilesAndRefusesCollisions) {
  const auto data = dir_ / "data";
  fs::create_directories(data / "a");
  fs::create_directories(data / "b");
  const auto inputs = testing::WriteShards(Fixture("inputs.h5"), "x_f32", data, Counts(17));
  const auto job = WriteJob(dir_, "two_outputs.pt", "[x_f32]", "[logits, probs]");
  const std::vector<std::string> glob{"--set", "input.path=" + (data / "part-*.h5").string()};
  auto r = RunMpsbatch(1, job, With(With({"--dry-run"}, glob), PerInput(dir_ / "o")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("output files: 17, one per input file: first " + (dir_ / "o" / "part-0000.h5").string() +
                          ", last " + (dir_ / "o" / "part-0016.h5").string()),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(dir_ / "o"));

  fs::copy_file(inputs[0], data / "a" / "x.h5");
  fs::copy_file(inputs[1], data / "b" / "x.h5");
  r = RunMpsbatch(
      1, job,
      With({"--dry-run", "--set",
            "input.path=['" + (data / "a" / "x.h5").string() + "', '" + (data / "b" / "x.h5").string() + "']"},
           PerInput(dir_ / "o")));
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("names one output, " + (dir_ / "o" / "x.h5").string() + ", for input files " +
                          (data / "a" / "x.h5").string() + " and " + (data / "b" / "x.h5").string() +
                          "; add {index} to the name"),
            std::string::npos)
      << r.output;

  r = RunMpsbatch(1, job,
                  With(With({"--dry-run"}, glob),
                       {"--set", "output.per_input=true", "--set", "output.path=" + (data / "{name}").string()}));
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("names input file " + inputs[0] + " itself as its output"), std::string::npos) << r.output;
}

// A dry run of a per-input job checks the output folder without creating
// anything in it (consumers may watch it), however many files it names.
TEST_F(E2E, PerInputDryRunCreatesNothingInTheOutputFolder) {
  const auto data = dir_ / "data";
  fs::create_directories(data);
  fs::create_directories(dir_ / "o");
  testing::WriteShards(Fixture("inputs.h5"), "x_f32", data, Counts(17));
  const auto job = WriteJob(dir_, "two_outputs.pt", "[x_f32]", "[logits, probs]");
  testing::FolderWatch watch(dir_ / "o");
  const auto r = RunMpsbatch(
      1, job, With({"--dry-run", "--set", "input.path=" + (data / "part-*.h5").string()}, PerInput(dir_ / "o")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::vector<std::string> created = watch.Created();
  EXPECT_TRUE(created.empty()) << created.size() << " files created in the output folder, the first " << created[0];
}

// An input file whose name the pattern turns into one a single output.path
// could not have is refused before anything runs (and by a dry run), naming
// the input file, the output and the fix.
TEST_F(E2E, PerInputRefusesAnOutputNameOfAnotherFormat) {
  const auto data = dir_ / "data";
  fs::create_directories(data);
  const auto inputs = testing::WriteShards(Fixture("inputs.h5"), "x_f32", data, Counts(3));
  fs::rename(inputs[1], data / "scores.bin");
  const auto job = WriteJob(dir_, "two_outputs.pt", "[x_f32]", "[logits, probs]");
  const std::string pattern = (dir_ / "o" / "{name}").string();
  for (const std::vector<std::string>& first : {std::vector<std::string>{"--dry-run"}, std::vector<std::string>{}}) {
    const auto r = RunMpsbatch(1, job,
                               With(first, {"--set", "input.path=" + (data / "*").string(), "--set",
                                            "output.per_input=true", "--set", "output.path=" + pattern}));
    EXPECT_EQ(r.exit_code, 3) << r.output;
    EXPECT_NE(r.output.find("output.path: '" + pattern + "' names the output of input file " +
                            (data / "scores.bin").string() + " " + (dir_ / "o" / "scores.bin").string() +
                            ", which ends in .bin, but mpsbatch writes HDF5 files; end the pattern's file name in "
                            ".h5 (e.g. " +
                            (dir_ / "o" / "{stem}.h5").string() + ")"),
              std::string::npos)
        << r.output;
    EXPECT_FALSE(fs::exists(dir_ / "o"));
  }
}

// Outputs beside their inputs, under names the input's glob matches, would be
// taken for input files by the next run of the job (a --resume after a stop,
// or one after more shards arrived): the first run refuses them, dry or not,
// before it writes anything, naming an output, its input file and the glob.
TEST_F(E2E, PerInputRefusesOutputsTheInputGlobMatches) {
  const auto data = dir_ / "data";
  fs::create_directories(data);
  const auto inputs = testing::WriteShards(Fixture("inputs.h5"), "x_f32", data, Counts(3));
  const auto job = WriteJob(dir_, "two_outputs.pt", "[x_f32]", "[logits, probs]");
  const std::string pattern = (data / "{stem}.scores.h5").string();
  const auto files = [&] { return std::distance(fs::directory_iterator(data), fs::directory_iterator()); };
  const auto before = files();
  for (const std::vector<std::string>& first : {std::vector<std::string>{"--dry-run"}, std::vector<std::string>{}}) {
    const auto r = RunMpsbatch(1, job,
                               With(first, {"--set", "input.path=" + (data / "*.h5").string(), "--set",
                                            "output.per_input=true", "--set", "output.path=" + pattern}));
    EXPECT_EQ(r.exit_code, 3) << r.output;
    EXPECT_NE(r.output.find("output.path: '" + pattern + "' names " + (data / "part-0000.scores.h5").string() +
                            ", the output of input file " + inputs[0] + ", which input.path's glob '" +
                            (data / "*.h5").string() + "' matches"),
              std::string::npos)
        << r.output;
    EXPECT_EQ(files(), before);
  }
}

// Outputs that exist are refused before any scoring, naming the first and
// how many, and left as they were; output.overwrite replaces them.
TEST_F(E2E, PerInputRefusesExistingOutputsWithoutOverwrite) {
  const auto data = dir_ / "data";
  fs::create_directories(data);
  testing::WriteShards(Fixture("inputs.h5"), "x_f32", data, Counts(3));
  const auto job = WriteJob(dir_, "two_outputs.pt", "[x_f32]", "[logits, probs]");
  const auto args = With({"--set", "input.path=" + (data / "part-*.h5").string()}, PerInput(dir_ / "o"));
  auto r = RunMpsbatch(2, job, args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto outs = PerInputOutputs(dir_ / "o", 3);
  fs::remove(outs[0]);
  const auto before = fs::last_write_time(outs[1]);
  r = RunMpsbatch(2, job, args);
  EXPECT_EQ(r.exit_code, 7) << r.output;
  EXPECT_NE(r.output.find("output.path: 2 of the 3 output files exist (the first: " + outs[1] +
                          "); set output.overwrite: true"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find("progress:"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(outs[0]));
  EXPECT_EQ(fs::last_write_time(outs[1]), before);
  r = RunMpsbatch(2, job, With(args, {"--set", "output.overwrite=true"}));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(outs[0]));
}

// One lock for the job's output set, on the pattern: a run of the same
// pattern while another holds it is refused before it writes anything.
TEST_F(E2E, PerInputOneRunPerPattern) {
  const auto data = dir_ / "data";
  fs::create_directories(data);
  testing::WriteShards(Fixture("inputs.h5"), "x_f32", data, Counts(3));
  const auto job = WriteJob(dir_, "two_outputs.pt", "[x_f32]", "[logits, probs]");
  fs::create_directories(dir_ / "o");
  const OutputLock other((dir_ / "o" / "{stem}.h5").string());
  auto r = RunMpsbatch(1, job, With({"--set", "input.path=" + (data / "part-*.h5").string()}, PerInput(dir_ / "o")));
  EXPECT_EQ(r.exit_code, 7) << r.output;
  EXPECT_NE(r.output.find("another run is writing this output"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find((dir_ / "o" / "{stem}.h5.lock").string()), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir_ / "o" / "part-0000.h5.partial"));
}

// Killed while a chunk of file 7 of 17 is in flight: files 0-6 are final and
// hold a clean run's bits, the rest are not; a --resume (on another rank
// count) completes every file to the clean run's bits. A committed file of
// another job is refused by a --resume.
TEST_F(E2E, PerInputFilesCommitInOrderAndResumeAfterAKill) {
  const auto data = dir_ / "data";
  fs::create_directories(data);
  std::vector<int64_t> counts(17, 4);
  counts[7] = 12;  // six chunks
  testing::WriteShards(Fixture("hang_unmarked.h5"), "x", data, counts);
  const std::string glob = (data / "part-*.h5").string();
  const auto clean_dir = dir_ / "clean";
  fs::create_directories(clean_dir);
  const auto clean = RunMpsbatch(2, WriteHangJob(clean_dir, glob, clean_dir / "o"));
  ASSERT_EQ(clean.exit_code, 0) << clean.output;
  const auto want = PerInputOutputs(clean_dir / "o", 17), got = PerInputOutputs(dir_ / "o", 17);

  const auto job = WriteHangJob(dir_, glob, dir_ / "o");
  const fs::path log = dir_ / "run.log";
  const pid_t pid = Start(MpsbatchArgs(job, {}), log);
  ASSERT_TRUE(WaitForJournalRecords(pid, JournalPath(got[7]), 2)) << testing::ReadFile(log);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  Wait(pid, log, 30);
  ASSERT_TRUE(fs::exists(got[7] + ".partial"));
  for (size_t i = 0; i < 17; ++i) {
    if (i < 7) {
      ASSERT_TRUE(fs::exists(got[i])) << i;
      EXPECT_EQ(ReadFloatsBytes(got[i], "y"), ReadFloatsBytes(want[i], "y")) << i;
    } else {
      EXPECT_FALSE(fs::exists(got[i])) << i;
    }
  }
  const RunResult r = RunMpsbatch(2, job, {"--resume"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(std::regex_search(r.output, std::regex("resume: (1[6-9]|[23][0-9]) of 38 chunks done by an earlier run")))
      << r.output;
  for (size_t i = 0; i < 17; ++i) EXPECT_EQ(ReadFloatsBytes(got[i], "y"), ReadFloatsBytes(want[i], "y")) << i;

  // The files committed by this job are another job's to a --resume of
  // another batch size.
  const RunResult foreign = RunMpsbatch(1, job, {"--resume", "--set", "batch_size=1", "--set", "chunk_size=2"});
  EXPECT_EQ(foreign.exit_code, 3) << foreign.output;
  EXPECT_NE(foreign.output.find("cannot resume: " + got[0] + " was committed by another job (batch_size was '2'"),
            std::string::npos)
      << foreign.output;
}

// A job stopped by SIGTERM keeps its files and says how many are committed
// and how many partial.
TEST_F(E2E, PerInputStopLineCountsTheFiles) {
  const auto data = dir_ / "data";
  fs::create_directories(data);
  std::vector<int64_t> counts(17, 4);
  counts[7] = 12;
  testing::WriteShards(Fixture("hang_unmarked.h5"), "x", data, counts);
  const auto job = WriteHangJob(dir_, (data / "part-*.h5").string(), dir_ / "o");
  const fs::path log = dir_ / "run.log";
  const pid_t pid = Start(MpsbatchArgs(job, {}), log);
  ASSERT_TRUE(WaitForJournalRecords(pid, JournalPath(PerInputOutputs(dir_ / "o", 17)[7]), 1)) << testing::ReadFile(log);
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  const RunResult r = Wait(pid, log, 30);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(std::regex_search(r.output, std::regex("stopped: ([7-9]|1[0-6]) of 17 files committed, 1 partial; run "
                                                     "again with --resume")))
      << r.output;
}

namespace {

// Two jobs on the same files. hang.pt scores a row in 0.1-0.3 s at
// batch_size 1: file 1 of these (95 rows) is written for 10-30 s, long
// enough for another job to start and be refused.
const std::vector<int64_t> kLongMiddle = {4, 95, 4};
const std::vector<std::string> kSlow = {"--set", "batch_size=1"};

// A clean run of the per-input job over `glob`, its files in `dir`/o.
std::vector<std::string> CleanPerInputRun(const fs::path& dir, const std::string& glob) {
  fs::create_directories(dir);
  const auto clean = RunMpsbatch(1, WriteHangJob(dir, glob, dir / "o"), kSlow);
  EXPECT_EQ(clean.exit_code, 0) << clean.output;
  return PerInputOutputs(dir / "o", kLongMiddle.size());
}

}  // namespace

// While a per-input job writes file 1, a job naming that file through
// another pattern ({name}) and a job with it as its one output are refused
// before they truncate it, even told to replace outputs and discard saved
// chunks; the first job ends with a clean run's bits.
TEST_F(E2E, PerInputAnotherJobOnAFileBeingWrittenIsRefused) {
  const auto data = dir_ / "data";
  fs::create_directories(data);
  testing::WriteShards(Fixture("hang_unmarked.h5"), "x", data, kLongMiddle);
  const std::string glob = (data / "part-*.h5").string();
  const auto want = CleanPerInputRun(dir_ / "clean", glob), got = PerInputOutputs(dir_ / "o", kLongMiddle.size());

  fs::create_directories(dir_ / "a");
  const fs::path log = dir_ / "a" / "run.log";
  const pid_t pid = Start(MpsbatchArgs(WriteHangJob(dir_ / "a", glob, dir_ / "o"), kSlow), log);
  ASSERT_TRUE(WaitForJournalRecords(pid, JournalPath(got[1]), 1)) << testing::ReadFile(log);
  const std::string holder = ", pid " + std::to_string(pid) + " holds the lock file " + LockPath(got[1]) + ")";

  fs::create_directories(dir_ / "b");
  const auto by_name = RunMpsbatch(
      1, WriteHangJob(dir_ / "b", glob, dir_ / "unused"),
      {"--restart", "--set", "output.path=" + (dir_ / "o" / "{name}").string(), "--set", "output.overwrite=true"});
  EXPECT_EQ(by_name.exit_code, 7) << by_name.output;
  EXPECT_NE(by_name.output.find("output file '" + got[1] + "': another run is writing this output (host "),
            std::string::npos)
      << by_name.output;
  EXPECT_NE(by_name.output.find(holder), std::string::npos) << by_name.output;
  // It let go of its pattern and left the report it shares with the first
  // job (all.report.json) alone.
  EXPECT_FALSE(fs::exists(dir_ / "o" / "{name}.lock"));
  EXPECT_FALSE(fs::exists(dir_ / "o" / "all.report.json"));

  fs::create_directories(dir_ / "c");
  const auto single = RunMpsbatch(1, WriteHangJob(dir_ / "c", (data / "part-0001.h5").string(), dir_ / "unused"),
                                  {"--restart", "--set", "output.per_input=false", "--set", "output.path=" + got[1],
                                   "--set", "output.overwrite=true"});
  EXPECT_EQ(single.exit_code, 7) << single.output;
  EXPECT_NE(single.output.find("output.path '" + got[1] + "': another run is writing this output (host "),
            std::string::npos)
      << single.output;
  EXPECT_NE(single.output.find(holder), std::string::npos) << single.output;

  const RunResult first = Wait(pid, log, 120);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(ReadFloatsBytes(got[i], "y"), ReadFloatsBytes(want[i], "y")) << i;
    EXPECT_FALSE(fs::exists(LockPath(got[i]))) << i;
  }
}

// While a job writes its one output, a per-input job naming that file among
// its outputs is refused before it scores; the first job's output is a clean
// run's.
TEST_F(E2E, PerInputJobOnAnotherJobsOutputIsRefused) {
  const auto data = dir_ / "data";
  fs::create_directories(data);
  testing::WriteShards(Fixture("hang_unmarked.h5"), "x", data, kLongMiddle);
  const std::string whole = (data / "whole.h5").string();
  const std::vector<std::string> single = {"--set", "output.per_input=false", "--set", "batch_size=1"};
  fs::create_directories(dir_ / "clean");
  const auto clean = RunMpsbatch(1, WriteHangJob(dir_ / "clean", whole, dir_ / "unused"),
                                 With(single, {"--set", "output.path=" + (dir_ / "clean" / "whole.h5").string()}));
  ASSERT_EQ(clean.exit_code, 0) << clean.output;

  const auto got = PerInputOutputs(dir_ / "o", kLongMiddle.size());
  fs::create_directories(dir_ / "a");
  const fs::path log = dir_ / "a" / "run.log";
  const pid_t pid = Start(
      MpsbatchArgs(WriteHangJob(dir_ / "a", whole, dir_ / "unused"), With(single, {"--set", "output.path=" + got[1]})),
      log);
  ASSERT_TRUE(WaitForJournalRecords(pid, JournalPath(got[1]), 1)) << testing::ReadFile(log);

  fs::create_directories(dir_ / "b");
  const auto per_input = RunMpsbatch(1, WriteHangJob(dir_ / "b", (data / "part-*.h5").string(), dir_ / "o"),
                                     {"--restart", "--set", "output.overwrite=true"});
  EXPECT_EQ(per_input.exit_code, 7) << per_input.output;
  EXPECT_NE(per_input.output.find("output file '" + got[1] + "': another run is writing this output (host "),
            std::string::npos)
      << per_input.output;
  EXPECT_NE(per_input.output.find(", pid " + std::to_string(pid) + " holds the lock file " + LockPath(got[1])),
            std::string::npos)
      << per_input.output;
  EXPECT_FALSE(fs::exists(got[0] + ".partial"));
  EXPECT_FALSE(fs::exists(got[0]));

  const RunResult first = Wait(pid, log, 120);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_EQ(ReadFloatsBytes(got[1], "y"), ReadFloatsBytes((dir_ / "clean" / "whole.h5").string(), "y"));
}

// A file another process locks once the job is under way: the job stops when
// it reaches that file, naming it, keeps the files it committed and says to
// resume; a --resume once the lock is gone ends with a clean run's bits.
TEST_F(E2E, PerInputRefusedMidRunResumes) {
  const auto data = dir_ / "data";
  fs::create_directories(data);
  testing::WriteShards(Fixture("hang_unmarked.h5"), "x", data, kLongMiddle);
  const std::string glob = (data / "part-*.h5").string();
  const auto want = CleanPerInputRun(dir_ / "clean", glob), got = PerInputOutputs(dir_ / "o", kLongMiddle.size());

  const auto job = WriteHangJob(dir_, glob, dir_ / "o");
  const fs::path log = dir_ / "run.log";
  const pid_t pid = Start(MpsbatchArgs(job, kSlow), log);
  ASSERT_TRUE(WaitForJournalRecords(pid, JournalPath(got[1]), 1)) << testing::ReadFile(log);
  RunResult r;
  {
    const OutputLock other(got[2]);
    r = Wait(pid, log, 120);
  }
  EXPECT_EQ(r.exit_code, 7) << r.output;
  EXPECT_NE(r.output.find("output file '" + got[2] + "': another run is writing this output (host "), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find(", pid " + std::to_string(getpid()) + " holds the lock file"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("2 of 3 files committed, 0 partial"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("run again with --resume"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(got[2]));
  EXPECT_FALSE(fs::exists(got[2] + ".partial"));

  const RunResult resumed = RunMpsbatch(1, job, With(kSlow, {"--resume"}));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(ReadFloatsBytes(got[i], "y"), ReadFloatsBytes(want[i], "y")) << i;
}

// A kill of rank 0 while it creates a file's partial file leaves one without
// its HDF5 metadata (0 or 96 bytes) beside a journal that lists no chunk:
// --resume starts that file afresh, saying so, and completes it to the clean
// run's bits, the committed files left as they were. Beside a journal that
// lists chunks, such a file is refused, naming it and the fix.
TEST_F(E2E, PerInputResumeStartsAfreshAPartialFileKilledAtItsCreation) {
  const auto data = dir_ / "data";
  fs::create_directories(data);
  testing::WriteShards(Fixture("inputs.h5"), "x_f32", data, Counts(3));
  const auto job = WriteJob(dir_, "two_outputs.pt", "[x_f32]", "[logits, probs]");
  // A forced path and batches of one row: the same bits on whichever rank scores a row.
  const auto args =
      With({"--set", "input.path=" + (data / "part-*.h5").string(), "--set", "path=eager", "--set", "batch_size=1"},
           PerInput(dir_ / "o"));
  auto r = RunMpsbatch(2, job, args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto outs = PerInputOutputs(dir_ / "o", 3);
  const std::string want = Bytes(outs[1], "logits");
  const auto kept = fs::last_write_time(outs[0]);
  const std::string partial = PartialPath(outs[1]);
  for (const uintmax_t bytes : {0u, 96u}) {
    fs::rename(outs[1], partial);
    fs::resize_file(partial, bytes);
    testing::WriteFile(JournalPath(outs[1]), EncodeJournalHeader(NewRunId()));
    r = RunMpsbatch(2, job, With(args, {"--resume"}));
    ASSERT_EQ(r.exit_code, 0) << bytes << " bytes\n" << r.output;
    EXPECT_NE(r.output.find("starting " + partial + " afresh"), std::string::npos) << r.output;
    EXPECT_EQ(Bytes(outs[1], "logits"), want) << bytes << " bytes";
    EXPECT_FALSE(fs::exists(partial));
    EXPECT_FALSE(fs::exists(JournalPath(outs[1])));
  }
  EXPECT_EQ(fs::last_write_time(outs[0]), kept);

  // Killed as it began to replace a committed file (output.overwrite): the
  // resume replaces it too, and leaves no partial file behind.
  const std::string replacing = PartialPath(outs[2]);
  const std::string want2 = Bytes(outs[2], "logits");
  fs::copy_file(outs[2], replacing);
  fs::resize_file(replacing, 96);
  r = RunMpsbatch(2, job, With(args, {"--resume", "--set", "output.overwrite=true"}));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("starting " + replacing + " afresh"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(replacing));
  EXPECT_EQ(Bytes(outs[2], "logits"), want2);

  fs::rename(outs[1], partial);
  fs::resize_file(partial, 96);
  testing::WriteFile(JournalPath(outs[1]), EncodeJournalHeader(NewRunId()) + EncodeJournalRecords({{0, 0}}));
  r = RunMpsbatch(2, job, With(args, {"--resume"}));
  EXPECT_EQ(r.exit_code, 7) << r.output;
  EXPECT_NE(r.output.find("cannot resume from " + partial + ": "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("while its journal " + JournalPath(outs[1]) +
                          " lists 1 finished chunk(s); remove both files and run --resume again"),
            std::string::npos)
      << r.output;
  EXPECT_TRUE(fs::exists(partial));
}

// Each output file is judged by what concerns it: the job's settings and its
// own input file. A shard regenerated after its output was committed is
// named by a --resume, with the fix (not every file called another job's,
// nor the change passed over), and scored again alone with
// output.overwrite; a shard regenerated under its partial file has that file
// started afresh. Each ends with a clean run's bits over the new input.
TEST_F(E2E, PerInputResumeJudgesEachFileByItsOwnInputFile) {
  const auto data = dir_ / "data";
  fs::create_directories(data);
  const auto inputs = testing::WriteShards(Fixture("inputs.h5"), "x_f32", data, Counts(3));
  const auto job = WriteJob(dir_, "two_outputs.pt", "[x_f32]", "[logits, probs]");
  // A forced path and batches of one row: the same bits on whichever rank scores a row.
  const std::vector<std::string> glob{
      "--set", "input.path=" + (data / "part-*.h5").string(), "--set", "path=eager", "--set", "batch_size=1"};
  const auto args = With(glob, PerInput(dir_ / "o"));
  auto r = RunMpsbatch(2, job, args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto outs = PerInputOutputs(dir_ / "o", 3);
  const std::string before = Bytes(outs[1], "logits");

  RegenerateShard(inputs[1], 60, 5);
  r = RunMpsbatch(2, job, With(args, {"--resume"}));
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("cannot resume: " + outs[1] + " no longer matches its input file " + inputs[1] +
                          " (input file " + inputs[1] + " was 'rows 5, size "),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("set output.overwrite: true to score that file again and replace its output, or move " +
                          outs[1] + " away"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find("committed by another job"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("chunks done by an earlier run"), std::string::npos) << r.output;
  EXPECT_EQ(Bytes(outs[1], "logits"), before);

  const auto kept = fs::last_write_time(outs[0]);
  r = RunMpsbatch(2, job, With(args, {"--resume", "--set", "output.overwrite=true"}));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("scoring " + inputs[1] + " again and replacing its output " + outs[1]), std::string::npos)
      << r.output;
  EXPECT_EQ(fs::last_write_time(outs[0]), kept);

  fs::rename(outs[2], PartialPath(outs[2]));
  RegenerateShard(inputs[2], 0, 58);
  r = RunMpsbatch(2, job, With(args, {"--resume"}));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("scoring " + inputs[2] + " again from its first row: its partial file " +
                          PartialPath(outs[2]) + " cannot be resumed, as input file " + inputs[2] + " was 'rows 58"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(fs::last_write_time(outs[0]), kept);

  const auto clean = RunMpsbatch(2, job, With(glob, PerInput(dir_ / "clean")));
  ASSERT_EQ(clean.exit_code, 0) << clean.output;
  for (size_t i = 0; i < outs.size(); ++i)
    for (const char* name : {"logits", "probs"})
      EXPECT_EQ(Bytes(outs[i], name), Bytes(PerInputOutputs(dir_ / "clean", 3)[i], name)) << i << " " << name;
  EXPECT_NE(Bytes(outs[1], "logits"), before);
}

}  // namespace mpsbatch::e2e
