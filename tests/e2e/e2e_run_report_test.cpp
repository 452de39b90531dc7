// The run report (run/run_report.h, docs/run-report.md) of real jobs: every
// rank in it, every chunk in exactly one rank's timeline, the rows adding up
// to the input; moved or skipped on request; written, marked failed, for a
// job that fails while scoring; drawn by scripts/plot_run.py. And the output
// file's attributes of how it was made (run/run_attributes.h), the first
// start kept across a --resume.
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "common/sha256.h"
#include "config/job.h"
#include "e2e_util.h"

namespace mpsbatch::e2e {

namespace {

using Json = nlohmann::json;

Json ReadReport(const fs::path& path) { return Json::parse(testing::ReadFile(path)); }

double DoubleAttribute(const std::string& path, const std::string& name) {
  H5Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (H5Aexists(file.get(), name.c_str()) <= 0) return -1;
  H5Handle attr(H5Aopen(file.get(), name.c_str(), H5P_DEFAULT), H5Aclose);
  double v = -1;
  H5Aread(attr.get(), H5T_NATIVE_DOUBLE, &v);
  return v;
}

// A job of 103 rows in chunks of 8: 13 chunks.
fs::path SmallJob(const fs::path& dir, const std::string& extra = "") {
  const fs::path job = WriteJob(dir, "mlp.pt", "[x_f32]", "[y]", extra);
  std::string text = testing::ReadFile(job);
  text.replace(text.find("chunk_size: 16"), 14, "chunk_size: 8");
  testing::WriteFile(job, text);
  return job;
}

constexpr int64_t kRows = 103, kChunks = 13;

// Every rank once, in order; every chunk in exactly one rank's timeline with
// its rows; each rank's rows its chunks' and all of them the input's; times
// in order.
void ExpectCompleteReport(const Json& report, int ranks) {
  EXPECT_EQ(report["status"], "ok");
  EXPECT_EQ(report["rows"], kRows);
  EXPECT_EQ(report["chunks"], kChunks);
  ASSERT_EQ(report["ranks"].size(), static_cast<size_t>(ranks));
  std::multiset<int64_t> seen;
  int64_t rows = 0;
  for (int r = 0; r < ranks; ++r) {
    SCOPED_TRACE("rank " + std::to_string(r));
    const Json& rank = report["ranks"][r];
    EXPECT_EQ(rank["rank"], r);
    EXPECT_FALSE(rank["host"].get<std::string>().empty());
    EXPECT_FALSE(rank["device"].get<std::string>().empty());
    EXPECT_FALSE(rank["path"].get<std::string>().empty());
    EXPECT_GT(rank["batch_size"].get<int64_t>(), 0);
    int64_t rank_rows = 0;
    for (const Json& c : rank["chunks"]) {
      const int64_t id = c["id"];
      seen.insert(id);
      EXPECT_EQ(c["rows"], std::min<int64_t>(8, kRows - id * 8)) << "chunk " << id;
      rank_rows += c["rows"].get<int64_t>();
      EXPECT_LE(c["begin"].get<double>(), c["compute_begin"].get<double>()) << "chunk " << id;
      EXPECT_LE(c["compute_begin"].get<double>(), c["compute_end"].get<double>()) << "chunk " << id;
      EXPECT_LE(c["compute_end"].get<double>(), c["end"].get<double>()) << "chunk " << id;
      EXPECT_GE(c["reading_seconds"].get<double>(), 0.0) << "chunk " << id;
      EXPECT_LE(c["reading_seconds"].get<double>(), c["read_seconds"].get<double>()) << "chunk " << id;
    }
    EXPECT_EQ(rank["rows"], rank_rows);
    EXPECT_EQ(rank["chunks_scored"], static_cast<int64_t>(rank["chunks"].size()));
    rows += rank_rows;
    std::vector<std::string> phases;
    for (const Json& p : rank["phases"]) {
      phases.push_back(p["name"]);
      EXPECT_LE(p["begin"].get<double>(), p["end"].get<double>()) << p.dump();
    }
    for (const char* name : {"plan", "engines", "calibration", "output file", "scoring", "commit"})
      EXPECT_NE(std::find(phases.begin(), phases.end(), name), phases.end()) << name;
  }
  EXPECT_EQ(rows, kRows);
  for (int64_t id = 0; id < kChunks; ++id) EXPECT_EQ(seen.count(id), 1u) << "chunk " << id;
  EXPECT_EQ(seen.size(), static_cast<size_t>(kChunks));
}

}  // namespace

TEST_F(E2E, RunReportHasEveryRankAndEveryChunkOnce) {
  for (int ranks : {2, 3}) {
    SCOPED_TRACE("ranks = " + std::to_string(ranks));
    auto r = RunMpsbatch(ranks, SmallJob(dir_), {"--set", "output.overwrite=true"});
    EXPECT_RUN_OK(r);
    const fs::path path = dir_ / "out.report.json";
    ASSERT_TRUE(fs::exists(path)) << r.output;
    const Json report = ReadReport(path);
    ExpectCompleteReport(report, ranks);
    EXPECT_EQ(report["output"]["path"], Out());
    EXPECT_EQ(report["output"]["committed"], true);
    EXPECT_EQ(report["model"]["sha256"], Sha256Hex(testing::ReadFile(Fixture("mlp.pt"))));
    EXPECT_EQ(report["input"]["path"], Fixture("inputs.h5"));
    EXPECT_EQ(report["input"]["size"].get<int64_t>(), static_cast<int64_t>(fs::file_size(Fixture("inputs.h5"))));
    EXPECT_FALSE(report["hosts"].empty());
    EXPECT_NE(report["command_line"].get<std::string>().find("output.overwrite=true"), std::string::npos);
    // The configuration as it ran, defaults included, parses to the job.
    const JobConfig config = ParseJobText(report["config"], "report", "/");
    EXPECT_EQ(config.chunk_size, 8);
    EXPECT_TRUE(config.output.overwrite);
    EXPECT_NE(report["config"].get<std::string>().find("\nschedule: dynamic\n"), std::string::npos);
    EXPECT_EQ(report["config"], StringAttribute(Out(), "config"));
  }
}

TEST_F(E2E, RunReportMovesOrStaysOff) {
  const fs::path moved = dir_ / "reports" / "run.json";
  fs::create_directories(moved.parent_path());
  auto r = RunMpsbatch(2, SmallJob(dir_), {"--report", moved.string()});
  EXPECT_RUN_OK(r);
  EXPECT_TRUE(fs::exists(moved)) << r.output;
  EXPECT_FALSE(fs::exists(dir_ / "out.report.json"));
  ExpectCompleteReport(ReadReport(moved), 2);

  r = RunMpsbatch(2, SmallJob(dir_, "report: off\n"), {"--set", "output.overwrite=true"});
  EXPECT_RUN_OK(r);
  EXPECT_FALSE(fs::exists(dir_ / "out.report.json"));
}

// A report that cannot be written costs a warning, not the job.
TEST_F(E2E, AnUnwritableReportIsAWarning) {
  auto r = RunMpsbatch(2, SmallJob(dir_), {"--report", (dir_ / "missing" / "run.json").string()});
  EXPECT_RUN_OK(r);
  EXPECT_NE(r.output.find("the run report was not written"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(Out()));
}

// A report never replaces a file the job reads or writes.
TEST_F(E2E, AReportOnTheJobsOwnFileIsRefused) {
  const auto job = SmallJob(dir_);
  const std::string text = testing::ReadFile(job);
  auto r = RunMpsbatch(2, job, {"--report", job.string()});
  EXPECT_RUN_OK(r);
  EXPECT_NE(r.output.find("is the job's own file"), std::string::npos) << r.output;
  EXPECT_EQ(testing::ReadFile(job), text);
}

TEST_F(E2E, AJobThatFailsWhileScoringWritesItsReportMarkedFailed) {
  const auto job = WriteJob(dir_, "poisoned.pt", "[x_poisoned]", "[y]", "path: eager\n");
  auto r = RunMpsbatch(1, job, {"--set", "chunk_size=8", "--set", "schedule=static"});
  EXPECT_EQ(r.exit_code, 5) << r.output;
  const fs::path path = dir_ / "out.report.json";
  ASSERT_TRUE(fs::exists(path)) << r.output;
  const Json report = ReadReport(path);
  EXPECT_EQ(report["status"], "failed");
  EXPECT_NE(report["error"].get<std::string>().find("rank 0 failed in score"), std::string::npos) << report["error"];
  EXPECT_EQ(report["output"]["committed"], false);
  ASSERT_EQ(report["ranks"].size(), 1u);
  EXPECT_FALSE(report["ranks"][0]["chunks"].empty());  // the chunks before the poisoned one
}

// A failure agreed after scoring (here an injected one at the commit, on
// rank 1) reports every rank's timeline, the output not committed.
TEST_F(E2E, AJobThatFailsAtTheCommitReportsEveryRank) {
  setenv("MPSBATCH_FAIL_AT", "commit:1:output", 1);  // inherited by mpiexec and the ranks
  auto r = RunMpsbatch(2, SmallJob(dir_));
  unsetenv("MPSBATCH_FAIL_AT");
  EXPECT_EQ(r.exit_code, 7) << r.output;
  EXPECT_FALSE(fs::exists(Out()));
  const fs::path path = dir_ / "out.report.json";
  ASSERT_TRUE(fs::exists(path)) << r.output;
  const Json report = ReadReport(path);
  EXPECT_EQ(report["status"], "failed");
  EXPECT_NE(report["error"].get<std::string>().find("rank 1 failed in commit"), std::string::npos) << report["error"];
  EXPECT_EQ(report["output"]["committed"], false);
  ASSERT_EQ(report["ranks"].size(), 2u);
  size_t chunks = 0;
  for (const Json& rank : report["ranks"]) chunks += rank["chunks"].size();
  EXPECT_EQ(chunks, static_cast<size_t>(kChunks));
}

TEST_F(E2E, PlotRunDrawsAReport) {
  auto r = RunMpsbatch(2, SmallJob(dir_));
  EXPECT_RUN_OK(r);
  const fs::path png = dir_ / "run.png";
  const std::string python = MPSBATCH_PYTHON;
  if (Spawn({python, "-c", "import matplotlib"}, dir_ / "probe.log", 60).exit_code != 0)
    GTEST_SKIP() << "matplotlib is not installed for " << python << "; pip install matplotlib (scripts/setup.sh)";
  auto plot = Spawn({python, std::string(MPSBATCH_SCRIPTS_DIR) + "/plot_run.py", (dir_ / "out.report.json").string(),
                     "-o", png.string()},
                    dir_ / "plot.log", 120);
  ASSERT_EQ(plot.exit_code, 0) << plot.output;
  ASSERT_TRUE(fs::exists(png)) << plot.output;
  EXPECT_EQ(testing::ReadFile(png).substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
}

TEST_F(E2E, OutputRecordsHostsCommandLineConfigAndWallTime) {
  auto r = RunMpsbatch(2, SmallJob(dir_), {"--set", "batch_size=4"});
  EXPECT_RUN_OK(r);
  const std::string hosts = StringAttribute(Out(), "hosts");
  EXPECT_NE(hosts, "(missing)");
  EXPECT_FALSE(hosts.empty());
  const std::string rank_hosts = StringAttribute(Out(), "rank_hosts");
  EXPECT_NE(rank_hosts.find("rank 0: "), std::string::npos) << rank_hosts;
  EXPECT_NE(rank_hosts.find("rank 1: "), std::string::npos) << rank_hosts;
  const std::string command = StringAttribute(Out(), "command_line");
  EXPECT_NE(command.find(MPSBATCH_BIN), std::string::npos) << command;
  EXPECT_NE(command.find("--set batch_size=4"), std::string::npos) << command;
  const std::string config = StringAttribute(Out(), "config");
  EXPECT_NE(config.find("\nbatch_size: 4\n"), std::string::npos) << config;
  EXPECT_NE(config.find("\nprecision: fp32\n"), std::string::npos) << config;  // a default
  EXPECT_GT(DoubleAttribute(Out(), "wall_seconds"), 0);
  EXPECT_EQ(StringAttribute(Out(), "first_start_time"), StringAttribute(Out(), "start_time"));
}

// A resumed output keeps its first run's start beside the last run's.
TEST_F(E2E, ResumedOutputKeepsTheFirstStartTime) {
  const auto job = SmallJob(dir_);
  auto r = RunMpsbatch(2, job);
  EXPECT_RUN_OK(r);
  const std::string first = StringAttribute(Out(), "start_time");
  fs::rename(Out(), Out() + ".partial");                         // as a run that stopped before its commit leaves it
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // start times are to the second
  r = RunMpsbatch(2, job, {"--resume"});
  EXPECT_RUN_OK(r);
  EXPECT_EQ(StringAttribute(Out(), "first_start_time"), first);
  EXPECT_NE(StringAttribute(Out(), "start_time"), first);
  EXPECT_GT(DoubleAttribute(Out(), "wall_seconds"), 0);
}

}  // namespace mpsbatch::e2e
