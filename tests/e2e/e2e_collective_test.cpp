// Every failure ends the job within seconds, by name: a failure injected
// (MPSBATCH_FAIL_AT, common/fault.h) at each collective step of
// kCollectiveSteps and in each thread body of kThreadFaultPoints, on rank 0
// and on a rank that is not, of a 3-rank job. The cases come from the tables
// in the code, so a new step is tested without being listed here.
#include <chrono>

#include "comm/collective_step.h"
#include "common/fault.h"
#include "e2e_util.h"

namespace mpsbatch::e2e {
namespace {

struct FaultCase {
  std::string point;
  int rank;
  std::string kind;  // MPSBATCH_FAIL_AT's KIND
  bool thread;       // a thread body's point: the line names the step that meets it
};

void PrintTo(const FaultCase& c, std::ostream* os) { *os << c.point << ":" << c.rank << ":" << c.kind; }

std::vector<FaultCase> Cases() {
  std::vector<FaultCase> cases;
  for (std::string_view step : kCollectiveSteps) {
    cases.push_back({std::string(step), 0, "model", false});
    cases.push_back({std::string(step), 2, "std", false});  // outside mpsbatch's hierarchy
  }
  // Not even a std::exception, in an agreed step and in one that aborts.
  cases.push_back({"plan", 0, "foreign", false});
  cases.push_back({"distribute-model", 1, "foreign", false});
  for (std::string_view point : kThreadFaultPoints) {
    cases.push_back({std::string(point), 0, "internal", true});
    // Only rank 0 writes the output, so only its syncing thread runs.
    if (point != "sync-thread") cases.push_back({std::string(point), 2, "std", true});
  }
  return cases;
}

std::string CaseName(const ::testing::TestParamInfo<FaultCase>& info) {
  std::string name = info.param.point + "_rank" + std::to_string(info.param.rank) + "_" + info.param.kind;
  for (auto& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
}

class FailAt : public ::testing::TestWithParam<FaultCase> {};

TEST_P(FailAt, EndsTheJobWithinSecondsNamingTheRankAndStep) {
  const FaultCase& c = GetParam();
  SilenceHdf5Errors();
  const auto dir = testing::TestDir();
  // 64 rows in chunks of 16: every rank scores, rank 0 writes several chunks.
  const auto job = WriteJob(dir, "mlp.pt", "[x_f32]");
  const std::string spec = c.point + ":" + std::to_string(c.rank) + ":" + c.kind;
  setenv("MPSBATCH_FAIL_AT", spec.c_str(), 1);  // inherited by mpiexec and the ranks
  const RunResult r = RunMpsbatch(3, job, {}, 90);
  const auto ended = std::chrono::system_clock::now();
  unsetenv("MPSBATCH_FAIL_AT");

  ASSERT_EQ(r.output.find("(killed after"), std::string::npos) << "the job hung:\n" << r.output;
  EXPECT_NE(r.exit_code, 0) << r.output;
  // One line names the rank and the step; a thread's failure names the step
  // that met it, and its message names the thread's point.
  const std::string line =
      "rank " + std::to_string(c.rank) + " failed in " + (c.thread ? "" : std::string(ShownStep(c.point)) + ": ");
  EXPECT_EQ(Count(r.output, line), 1u) << r.output;
  // The injected failure's own message, or what stands for it when the
  // exception has none.
  const std::string message = c.kind == "foreign"
                                  ? "an exception that is not a std::exception"
                                  : "injected failure at " + c.point + " on rank " + std::to_string(c.rank);
  EXPECT_NE(r.output.find(message), std::string::npos) << r.output;
  // Within 10 s of the failure's report (the start-up before it does not count).
  const auto reported = LoggedAt(r.output, line);
  ASSERT_TRUE(reported) << r.output;
  EXPECT_LT(std::chrono::duration<double>(ended - *reported).count(), 10.0) << r.output;
  EXPECT_TRUE(WaitForNoRanks(job.string())) << "ranks left running";
  EXPECT_FALSE(fs::exists(dir / "out.h5")) << "a failed job left a file at output.path";
}

INSTANTIATE_TEST_SUITE_P(E2E, FailAt, ::testing::ValuesIn(Cases()), CaseName);

}  // namespace
}  // namespace mpsbatch::e2e
