// What a job says while it scores: rank 0's progress line every
// progress_interval seconds, and none with progress_interval: off.
#include <regex>

#include "e2e_util.h"

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

}  // namespace
}  // namespace mpsbatch::e2e
