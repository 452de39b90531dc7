// on_error: skip: a model that raises for some rows (poisoned.pt, marked rows
// of x_marked) or yields NaN or Inf (nonfinite.pt with fail_on_nonfinite)
// fails those rows only. The failed rows are found exactly on 1-3 ranks,
// marked in the `failed` dataset and filled with NaN; every other row is the
// clean run's, bit for bit; max_failed_rows (a count or a percentage) ends
// the job; on_error: fail is unchanged; a killed run's failed rows survive a
// --resume. The same holds over an input of many files.
#include <csignal>
#include <regex>
#include <set>

#include "e2e_util.h"
#include "shards_util.h"
#include "write/journal.h"

namespace mpsbatch::e2e {
namespace {

// The rows make_fixtures.py marks in x_marked and raise_hang_*.h5.
const std::set<int64_t> kMarkedRows = {9, 10, 15, 16, 40, 77, 102};
constexpr int64_t kRows = 103;

std::vector<uint8_t> ReadFlags(const std::string& path) {
  InputFile f(path);
  const DatasetInfo info = f.Describe("failed");
  EXPECT_EQ(info.dtype, DType::kUInt8);
  const HostArray a = f.ReadRows(info, 0, info.shape[0]);
  std::vector<uint8_t> v(a.bytes.size());
  std::memcpy(v.data(), a.bytes.data(), a.bytes.size());
  return v;
}

std::vector<uint8_t> FlagsOf(const std::set<int64_t>& rows) {
  std::vector<uint8_t> flags(kRows, 0);
  for (int64_t r : rows) flags[static_cast<size_t>(r)] = 1;
  return flags;
}

bool HasDataset(const std::string& path, const std::string& name) {
  H5Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  return H5Lexists(file.get(), name.c_str(), H5P_DEFAULT) > 0;
}

// `got` (row_floats per row) equals `want` bit for bit on the rows not in
// `failed`, and is NaN on those.
void ExpectRowsAsClean(const std::vector<float>& got, const std::vector<float>& want, const std::set<int64_t>& failed,
                       size_t row_floats) {
  ASSERT_EQ(got.size(), want.size());
  ASSERT_EQ(got.size(), static_cast<size_t>(kRows) * row_floats);
  for (int64_t row = 0; row < kRows; ++row) {
    const size_t at = static_cast<size_t>(row) * row_floats;
    if (failed.count(row)) {
      for (size_t i = 0; i < row_floats; ++i) EXPECT_TRUE(std::isnan(got[at + i])) << "row " << row;
    } else {
      EXPECT_EQ(std::memcmp(&got[at], &want[at], row_floats * sizeof(float)), 0) << "row " << row;
    }
  }
}

// poisoned.pt on `dataset`, forced to the eager path: a batch of 8 rows, 16
// rows a chunk (7 chunks, the last of 7 rows).
fs::path WritePoisonedJob(const fs::path& dir, const std::string& dataset, const std::string& extra = "") {
  return WriteJob(dir, "poisoned.pt", "[" + dataset + "]", "[y]", "path: eager\n" + extra);
}

class SkipOnRanks : public ::testing::TestWithParam<int> {};

TEST_P(SkipOnRanks, FindsExactlyTheFailedRowsAndKeepsEveryOtherRowsBits) {
  SilenceHdf5Errors();
  const int ranks = GetParam();
  const auto clean_dir = testing::TestDir() / "clean";
  const auto dir = testing::TestDir() / "skip";
  fs::create_directories(clean_dir);
  fs::create_directories(dir);
  const RunResult clean = RunMpsbatch(ranks, WritePoisonedJob(clean_dir, "x_f32"));
  EXPECT_RUN_OK(clean);
  EXPECT_FALSE(HasDataset((clean_dir / "out.h5").string(), "failed"));

  const RunResult r = RunMpsbatch(ranks, WritePoisonedJob(dir, "x_marked", "on_error: skip\n"));
  EXPECT_RUN_OK(r);
  const std::string out = (dir / "out.h5").string();
  EXPECT_EQ(ReadFlags(out), FlagsOf(kMarkedRows));
  EXPECT_EQ(IntAttribute(out, "failed_rows"), 7);
  ExpectRowsAsClean(ReadFloats(out, "y"), ReadFloats((clean_dir / "out.h5").string(), "y"), kMarkedRows, 10);
  // The first few rows in the log with their errors, and the count on the last line.
  EXPECT_TRUE(std::regex_search(r.output, std::regex(R"(row 9 failed; .*poisoned row in batch)"))) << r.output;
  std::string last = r.output.substr(0, r.output.find_last_not_of('\n') + 1);
  last = last.substr(last.find_last_of('\n') + 1);
  EXPECT_NE(last.find("7 rows failed and were filled (on_error: skip, max_failed_rows: none)"), std::string::npos)
      << r.output;
  EXPECT_NE(last.find("dataset: rows 9, 10, 15, 16, 40, 77, 102; row 9: forward failed for inputs [1, 8, 8] float32: "
                      "builtins.RuntimeError: poisoned row in batch"),
            std::string::npos)
      << last;
}

INSTANTIATE_TEST_SUITE_P(E2E, SkipOnRanks, ::testing::Values(1, 2, 3));

// The rows of x_f32 and x_marked as 17 files (one without rows), in `data`;
// returns the glob that names them.
std::string WriteMarkedShards(const fs::path& data, const std::string& dataset) {
  fs::create_directories(data);
  testing::WriteShards(Fixture("inputs.h5"), dataset, data, {9, 1, 15, 0, 16, 3, 7, 2, 11, 4, 6, 5, 8, 2, 10, 1, 3});
  return (data / "part-*.h5").string();
}

// Over 17 files on 1-4 ranks: exactly the marked rows fail, found across the
// files (row 9 is a file's only row, row 40 a file's last), and every other
// row is the clean run's over the same files, bit for bit.
class SkipOverShards : public ::testing::TestWithParam<int> {};

TEST_P(SkipOverShards, FindsExactlyTheFailedRowsAcrossTheFiles) {
  SilenceHdf5Errors();
  const int ranks = GetParam();
  const auto root = testing::TestDir();
  const auto clean_dir = root / "clean", dir = root / "skip";
  fs::create_directories(clean_dir);
  fs::create_directories(dir);
  const std::string clean_glob = WriteMarkedShards(root / "clean-data", "x_f32");
  const std::string marked_glob = WriteMarkedShards(root / "marked-data", "x_marked");
  const RunResult clean =
      RunMpsbatch(ranks, WritePoisonedJob(clean_dir, "x_f32"), {"--set", "input.path=" + clean_glob});
  EXPECT_RUN_OK(clean);
  const RunResult r =
      RunMpsbatch(ranks, WritePoisonedJob(dir, "x_marked", "on_error: skip\n"), {"--set", "input.path=" + marked_glob});
  EXPECT_RUN_OK(r);
  const std::string out = (dir / "out.h5").string();
  EXPECT_EQ(ReadFlags(out), FlagsOf(kMarkedRows));
  EXPECT_EQ(IntAttribute(out, "failed_rows"), 7);
  ExpectRowsAsClean(ReadFloats(out, "y"), ReadFloats((clean_dir / "out.h5").string(), "y"), kMarkedRows, 10);
  EXPECT_NE(r.output.find("7 rows failed and were filled (on_error: skip, max_failed_rows: none)"), std::string::npos)
      << r.output;
}

INSTANTIATE_TEST_SUITE_P(E2E, SkipOverShards, ::testing::Values(1, 2, 3, 4));

// max_failed_rows over many files: past it the job fails, and no output is
// committed.
TEST_F(E2E, FailedRowsCapOverShards) {
  const std::string glob = WriteMarkedShards(dir_ / "data", "x_marked");
  const RunResult r = RunMpsbatch(3, WritePoisonedJob(dir_, "x_marked", "on_error: skip\nmax_failed_rows: 3\n"),
                                  {"--set", "input.path=" + glob}, 60);
  EXPECT_EQ(r.exit_code, 5) << r.output;
  EXPECT_TRUE(std::regex_search(r.output, std::regex(R"(model error: [4-7] rows failed, more than max_failed_rows: 3 )"
                                                     R"(allows \(3 rows\); the first, row [0-9]+: )")))
      << r.output;
  EXPECT_FALSE(fs::exists(Out()));
}

TEST_F(E2E, SkipWithoutFailuresSaysNoRowFailed) {
  const RunResult r = RunMpsbatch(2, WritePoisonedJob(dir_, "x_f32", "on_error: skip\n"));
  EXPECT_RUN_OK(r);
  EXPECT_EQ(ReadFlags(Out()), FlagsOf({}));
  EXPECT_NE(r.output.find("0 rows failed and were filled"), std::string::npos) << r.output;
}

// max_failed_rows as a count and as a share of the rows: past it, the job
// fails (exit 5) with the count, the limit and the first row; within it, exit 0.
struct CapCase {
  std::string limit;
  int exit_code;
  std::string message;
};

void PrintTo(const CapCase& c, std::ostream* os) { *os << "max_failed_rows: " << c.limit; }

class FailedRowsCap : public ::testing::TestWithParam<CapCase> {};

TEST_P(FailedRowsCap, PastTheLimitTheJobFailsWithinItSucceeds) {
  SilenceHdf5Errors();
  const auto dir = testing::TestDir();
  const auto job = WritePoisonedJob(dir, "x_marked", "on_error: skip\nmax_failed_rows: " + GetParam().limit + "\n");
  const RunResult r = RunMpsbatch(3, job, {}, 60);
  EXPECT_EQ(r.exit_code, GetParam().exit_code) << r.output;
  EXPECT_TRUE(std::regex_search(r.output, std::regex(GetParam().message))) << r.output;
  EXPECT_EQ(r.output.find("the run hung"), std::string::npos) << r.output;
  EXPECT_EQ(fs::exists(dir / "out.h5"), GetParam().exit_code == 0) << r.output;
}

INSTANTIATE_TEST_SUITE_P(
    E2E, FailedRowsCap,
    ::testing::Values(
        CapCase{
            "3", 5,
            R"(model error: [4-7] rows failed, more than max_failed_rows: 3 allows \(3 rows\); the first, row [0-9]+: .*poisoned row in batch; fix those rows or raise max_failed_rows)"},
        CapCase{"'5%'", 5, R"([6-7] rows failed, more than max_failed_rows: 5% allows \(5 rows\))"},
        CapCase{"7", 0, R"(7 rows failed and were filled \(on_error: skip, max_failed_rows: 7\))"},
        CapCase{"'10%'", 0, R"(7 rows failed and were filled \(on_error: skip, max_failed_rows: 10%\))"}));

// Without on_error (fail), the first failing batch still ends the job.
TEST_F(E2E, OnErrorFailStillEndsTheJobAtTheFirstFailingBatch) {
  const RunResult r = RunMpsbatch(2, WritePoisonedJob(dir_, "x_marked", "on_error: fail\n"), {}, 60);
  EXPECT_EQ(r.exit_code, 5) << r.output;
  EXPECT_NE(r.output.find("poisoned row in batch"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("rows failed"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(Out()));
}

// nonfinite.pt: rows with a NaN or Inf fail under fail_on_nonfinite + skip;
// the others are the reference's.
TEST_F(E2E, NonFiniteRowsFailUnderFailOnNonfiniteAndSkip) {
  const std::vector<float> want = ReadFloats(Fixture("reference.h5"), "nonfinite_x_f32");
  std::set<int64_t> bad;
  for (size_t i = 0; i < want.size(); ++i)
    if (!std::isfinite(want[i])) bad.insert(static_cast<int64_t>(i / 4));
  ASSERT_GT(bad.size(), 0u);
  ASSERT_LT(bad.size(), static_cast<size_t>(kRows));
  const auto job = WriteJob(dir_, "nonfinite.pt", "[x_f32]", "[y]", "on_error: skip\nfail_on_nonfinite: true\n");
  const RunResult r = RunMpsbatch(2, job);
  EXPECT_RUN_OK(r);
  EXPECT_EQ(ReadFlags(Out()), FlagsOf(bad));
  ExpectRowsAsClean(ReadFloats(Out(), "y"), want, bad, 4);
  EXPECT_NE(r.output.find(std::to_string(bad.size()) + " rows failed and were filled"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("has a non-finite value (NaN or Inf), and fail_on_nonfinite is set"), std::string::npos)
      << r.output;
}

// A run killed mid-way (SIGKILL to mpirun and its ranks: nothing is saved on
// the way out), held up by the row raise_or_hang.pt never returns for: the
// chunks the journal recorded keep their failed rows, and the resumed run's
// file marks exactly the rows that fail, from both runs.
TEST_F(E2E, FailedRowsOfAKilledRunSurviveTheResume) {
  const fs::path input = dir_ / "in.h5";
  fs::copy_file(Fixture("raise_hang_marked.h5"), input);
  const fs::path job = dir_ / "job.yaml";
  testing::WriteFile(job, "model:\n  path: " + Fixture("raise_or_hang.pt") + "\ndevice: " + TestDevice() +
                              "\nbatch_size: 2\nchunk_size: 2\npath: eager\non_error: skip\nstall_timeout: off\n" +
                              "input:\n  path: " + input.string() +
                              "\n  datasets: [x]\noutput:\n  path: out.h5\n  datasets: [y]\n");
  const fs::path log = dir_ / "run.log";
  auto argv = MpirunArgs(2, job);
  const pid_t mpirun = Start(argv, log);
  // Chunks 4, 5, 7 and 8 hold marked rows; chunk 50 never finishes.
  const fs::path journal = dir_ / "out.h5.partial.chunks";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  while (JournalRecordsBySize(journal.string()) < 30 && Running(mpirun) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(Running(mpirun)) << testing::ReadFile(log);
  ASSERT_GE(JournalRecordsBySize(journal.string()), 30) << testing::ReadFile(log);
  const auto ranks = RankProcesses(job.string());
  killpg(mpirun, SIGKILL);
  for (const auto& [pid, rank] : ranks) kill(pid, SIGKILL);
  Wait(mpirun, log, 30);
  ASSERT_TRUE(WaitForNoRanks(job.string()));
  EXPECT_NE(testing::ReadFile(log).find("marked row in batch"), std::string::npos) << testing::ReadFile(log);

  // The same input without the row that hangs, as the resume accepts it.
  const auto mtime = fs::last_write_time(input);
  fs::copy_file(Fixture("raise_hang_unmarked.h5"), input, fs::copy_options::overwrite_existing);
  fs::last_write_time(input, mtime);
  const RunResult r = RunMpsbatch(2, job, {"--resume"});
  EXPECT_RUN_OK(r);
  EXPECT_NE(r.output.find("chunks done by an earlier run"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("7 rows failed and were filled"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("(recorded by an earlier run)"), std::string::npos) << r.output;
  EXPECT_EQ(ReadFlags(Out()), FlagsOf(kMarkedRows));
  ExpectRowsAsClean(ReadFloats(Out(), "y"), TwiceTheFirstTwoPixels(input.string()), kMarkedRows, 2);
}

// A partial output started under on_error: skip is not resumed under fail:
// its files hold the failed rows' dataset.
TEST_F(E2E, ResumeRefusesAnotherOnError) {
  SilenceHdf5Errors();
  const auto job = WritePoisonedJob(dir_, "x_marked");
  const RunResult first = RunMpsbatch(1, job, {"--set", "on_error=skip", "--set", "max_failed_rows=1"}, 60);
  ASSERT_EQ(first.exit_code, 5) << first.output;
  ASSERT_TRUE(fs::exists(dir_ / "out.h5.partial")) << first.output;
  const RunResult r = RunMpsbatch(1, job, {"--resume"}, 60);
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("on_error was 'skip' when the output was started, is absent now"), std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace mpsbatch::e2e
