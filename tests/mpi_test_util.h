// The main() of a test binary that mpiexec starts at several rank counts:
// every rank runs every test case, rank 0 alone prints gtest's report, and
// the exit code says whether any rank failed.
#pragma once

#include <gtest/gtest.h>

#include "comm/communicator.h"
#include "hdf5/handle.h"

namespace mpsbatch::testing {

// Runs the binary's tests with `*comm` pointing at the job's communicator
// while they run.
inline int RunOnEveryRank(int argc, char** argv, Communicator** comm) {
  MpiSession mpi(&argc, &argv);
  SilenceHdf5Errors();
  ::testing::InitGoogleTest(&argc, argv);
  Communicator world;
  *comm = &world;
  if (world.rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  const int failed = RUN_ALL_TESTS();
  const int any_failed = static_cast<int>(world.AllreduceMax(failed));
  *comm = nullptr;
  return any_failed;
}

}  // namespace mpsbatch::testing
