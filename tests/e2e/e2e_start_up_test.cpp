// End to end: the other ranks load and warm their engines while rank 0 loads
// its own and probes the model (plan/plan_job.h's PlanModel and WarmEngine),
// with the same output bits as one rank; a refusal in rank 0's plan stays one
// line naming it; a failed warm-up is left for calibration; a dry run loads no
// engine but rank 0's.
#include <gtest/gtest.h>

#include <string>
#include <utility>

#include "e2e_util.h"

namespace mpsbatch {

using namespace e2e;

namespace {

// Bitwise comparisons force one path and one thread count (see e2e_test.cpp).
constexpr const char* kForced = "path: eager\nthreads: 1\n";

class StartUp : public E2E {
 protected:
  // The job's output on one rank, to compare other rank counts with.
  std::string OneRank(const fs::path& job) {
    const std::string out = (dir_ / "one.h5").string();
    auto r = RunMpsbatch(1, job, {"--set", "output.path=" + out});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return ReadFloatsBytes(out, "y");
  }
};

// Each other rank's engine is warm before rank 0 logs its chunks, which it
// does once its own engine has probed the model: the engines load together.
TEST_F(StartUp, OtherRanksWarmTheirEnginesWhileRankZeroPlans) {
  const auto job = WriteJob(dir_, "mlp.pt", "[x_f32]", "[y]", kForced);
  const std::string want = OneRank(job);
  for (const int ranks : {2, 3}) {
    SCOPED_TRACE("ranks = " + std::to_string(ranks));
    const std::string out = (dir_ / ("out" + std::to_string(ranks) + ".h5")).string();
    auto r = RunMpsbatch(ranks, job, {"-v", "--set", "output.path=" + out});
    EXPECT_RUN_OK(r);
    EXPECT_EQ(ReadFloatsBytes(out, "y"), want) << "differs from 1 rank";
    const auto chunks = LoggedAt(r.output, "[rank 0] [info]   chunks:");
    ASSERT_TRUE(chunks) << r.output;
    for (int rank = 1; rank < ranks; ++rank) {
      const auto warmed =
          LoggedAt(r.output, "[rank " + std::to_string(rank) + "] [debug] engine warmed on 8 input row(s)");
      ASSERT_TRUE(warmed) << "rank " << rank << "\n" << r.output;
      EXPECT_LE(*warmed, *chunks) << "rank " << rank << "\n" << r.output;
    }
    EXPECT_NE(r.output.find("the others' engines ready "), std::string::npos) << r.output;
  }
}

// A rank that receives its rows from rank 0 holds none before scoring, and
// never feeds the model rows the job did not give it: a model that never
// returns for a batch of zeros (which no input row holds) scores as on one
// rank, rather than hanging the start-up.
TEST_F(StartUp, ScatterRanksNeverRunTheModelOnRowsTheJobDidNotGive) {
  const auto job = WriteJob(dir_, "hang_on_zeros.pt", "[x_f32]", "[y]", kForced);
  const std::string want = OneRank(job);
  auto r = RunMpsbatch(2, job, {"-v", "--set", "input.mode=scatter", "--set", "output.path=" + Out()}, 60);
  ASSERT_EQ(r.output.find("(killed after"), std::string::npos) << "the job hung:\n" << r.output;
  EXPECT_RUN_OK(r);
  EXPECT_NE(r.output.find("[rank 1] [debug] engine not warmed: in scatter mode"), std::string::npos) << r.output;
  EXPECT_EQ(ReadFloatsBytes(Out(), "y"), want);
}

// Fewer rows than ranks, all in one chunk (3 rows, then 1, on 4 ranks): the
// ranks that get no rows still warm their engines on the input's first rows
// in shared mode (in scatter mode they hold none, and do not), and the job
// ends, with no hang, as it does on one rank.
TEST_F(StartUp, RanksWithoutRowsWarmTheirEnginesInEitherMode) {
  for (const auto& [dataset, rows] : {std::pair<std::string, std::string>{"x_small", "3"}, {"x_one", "1"}}) {
    const auto job = WriteJob(dir_, "mlp.pt", "[" + dataset + "]", "[y]", kForced);
    const std::string one = (dir_ / (dataset + "-one.h5")).string();
    ASSERT_EQ(RunMpsbatch(1, job, {"--set", "output.path=" + one}).exit_code, 0);
    for (const std::string mode : {"scatter", "shared"}) {
      SCOPED_TRACE(dataset + ", input.mode " + mode);
      const std::string out = (dir_ / (dataset + "-" + mode + ".h5")).string();
      auto r = RunMpsbatch(4, job, {"-v", "--set", "input.mode=" + mode, "--set", "output.path=" + out});
      ASSERT_EQ(r.output.find("(killed after"), std::string::npos) << "the job hung:\n" << r.output;
      EXPECT_RUN_OK(r);
      EXPECT_NE(r.output.find("(mode " + mode + ")"), std::string::npos) << r.output;
      EXPECT_EQ(ReadFloatsBytes(out, "y"), ReadFloatsBytes(one, "y")) << "differs from 1 rank";
      const std::string warmed = mode == "scatter" ? "] [debug] engine not warmed: in scatter mode"
                                                   : "] [debug] engine warmed on " + rows + " input row(s)";
      for (int rank = 1; rank < 4; ++rank)
        EXPECT_NE(r.output.find("[rank " + std::to_string(rank) + warmed), std::string::npos) << "rank " << rank << "\n"
                                                                                              << r.output;
    }
  }
}

// A warm-up that fails leaves the job to calibration, which runs the model on
// the job's rows and reports what it meets: here nothing, so the job ends well.
TEST_F(StartUp, AFailedWarmUpIsLeftToCalibration) {
  const auto job = WriteJob(dir_, "mlp.pt", "[x_f32]", "[y]", kForced);
  const std::string want = OneRank(job);
  setenv("MPSBATCH_FAIL_AT", "warm-up:1:model", 1);  // inherited by mpiexec and the ranks
  auto r = RunMpsbatch(2, job, {"-v", "--set", "output.path=" + Out()});
  unsetenv("MPSBATCH_FAIL_AT");
  EXPECT_RUN_OK(r);
  EXPECT_NE(r.output.find("[rank 1] [debug] warming the engine on 8 input row(s) failed; calibration runs the model "
                          "again"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(Count(r.output, "failed in"), 0u) << r.output;
  EXPECT_EQ(ReadFloatsBytes(Out(), "y"), want);
}

// A model that cannot run on the input fails rank 0's probe and every other
// rank's warm-up: the job ends with rank 0's one line, and writes nothing.
TEST_F(StartUp, AModelThatCannotRunIsRankZerosOneRefusal) {
  const auto job = WriteJob(dir_, "mlp.pt", "[x_wrong_shape]");
  auto r = RunMpsbatch(3, job, {"--set", "output.path=" + Out()});
  EXPECT_EQ(r.exit_code, 5) << r.output;
  EXPECT_EQ(Count(r.output, "failed in"), 1u) << r.output;
  EXPECT_NE(
      r.output.find("rank 0 failed in plan: model error: " + Fixture("mlp.pt") + ": the model cannot run on the input"),
      std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(Out()));
  EXPECT_FALSE(fs::exists(Out() + ".partial"));
}

// --dry-run: rank 0 alone loads the model; nothing is written.
TEST_F(StartUp, DryRunLoadsNoEngineOnOtherRanks) {
  const auto job = WriteJob(dir_, "mlp.pt", "[x_f32]");
  auto r = RunMpsbatch(2, job, {"-v", "--dry-run", "--set", "output.path=" + Out()});
  EXPECT_RUN_OK(r);
  EXPECT_EQ(r.output.find("engine warmed"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("warming the engine"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(Out()));
  EXPECT_FALSE(fs::exists(Out() + ".partial"));
}

}  // namespace

}  // namespace mpsbatch
