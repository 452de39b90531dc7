// The collective-step mechanism and the communicator's error checks under real
// MPI (launched by mpiexec at 1 and 2 ranks), and the failure points of
// common/fault.h (MPSBATCH_FAIL_AT, set by main before anything reads it).
#include "comm/collective_step.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <stdexcept>
#include <thread>

#include "common/error.h"
#include "common/fault.h"
#include "mpi_test_util.h"

namespace mpsbatch {

namespace {

Communicator* g_comm = nullptr;

// MPI's default handler would abort the process inside MPI_Bcast.
TEST(Communicator, AFailedCallIsACommErrorNamingIt) {
  std::string data = "x";
  try {
    g_comm->Broadcast(data, g_comm->size() + 5);  // no such root
    FAIL() << "a broadcast from a rank that does not exist returned";
  } catch (const CommError& e) {
    EXPECT_NE(std::string(e.what()).find("MPI_Bcast failed: "), std::string::npos) << e.what();
  }
  g_comm->Barrier();  // still usable
}

TEST(Agree, ASuccessfulStepReturnsOnEveryRank) {
  int ran = 0;
  Agree(*g_comm, "plan", [&] { ++ran; });
  EXPECT_EQ(ran, 1);
}

double ProcessCpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

// While rank 0 works through a step (planning: its engine and probe), the
// others wait in the step's agreement. MPI's blocking collectives spin there,
// taking the CPU rank 0 needs on a host with more ranks than cores.
TEST(Agree, RanksWaitingForAStepTakeAlmostNoCpu) {
  if (g_comm->size() < 2) GTEST_SKIP() << "needs a rank that waits";
  const double before = ProcessCpuSeconds();
  Agree(*g_comm, "plan", [&] {
    if (g_comm->rank() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  });
  const double used = ProcessCpuSeconds() - before;
  if (g_comm->rank() != 0) {
    EXPECT_LT(used, 0.3) << "CPU seconds spent waiting 1.5 s for rank 0";
  }
}

// The last rank fails; every rank throws JobFailed with its kind.
TEST(Agree, OneRanksFailureIsEveryRanksJobFailedOfItsKind) {
  const bool last = g_comm->rank() == g_comm->size() - 1;
  try {
    Agree(*g_comm, "create-output", [&] {
      if (last) throw OutputError("the disk is full");
    });
    FAIL() << "Agree returned after a failure";
  } catch (const JobFailed& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kOutput);
  }
}

TEST(CurrentFailure, NamesTheKindOrCallsItInternal) {
  auto of = [](auto thrown) {
    try {
      throw thrown;
    } catch (...) {
      return CurrentFailure();
    }
  };
  EXPECT_EQ(of(ModelError("bad")).kind, ErrorKind::kModel);
  EXPECT_EQ(of(ModelError("bad")).message, "bad");
  EXPECT_EQ(of(std::runtime_error("odd")).kind, ErrorKind::kInternal);
  EXPECT_EQ(of(std::runtime_error("odd")).message, "odd");
  EXPECT_EQ(of(42).message, "an exception that is not a std::exception");
  EXPECT_EQ(FailureLine(2, "commit", {ErrorKind::kOutput, "full"}), "rank 2 failed in commit: output error: full");
  // The plan's second step reads as the plan.
  EXPECT_EQ(FailureLine(0, "plan-model", {ErrorKind::kModel, "m"}), "rank 0 failed in plan: model error: m");
}

// main sets MPSBATCH_FAIL_AT=sync-thread:0:input.
TEST(FaultPoint, ThrowsWhereAndAsAskedOnly) {
  EXPECT_NO_THROW(FaultPoint("compute-thread"));
  if (g_comm->rank() != 0) {
    EXPECT_NO_THROW(FaultPoint("sync-thread"));
    return;
  }
  try {
    FaultPoint("sync-thread");
    FAIL() << "no failure at sync-thread on rank 0";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("injected failure at sync-thread on rank 0"), std::string::npos);
  }
}

}  // namespace

}  // namespace mpsbatch

int main(int argc, char** argv) {
  setenv("MPSBATCH_FAIL_AT", "sync-thread:0:input", 1);
  return mpsbatch::testing::RunOnEveryRank(argc, argv, &mpsbatch::g_comm);
}
