// The calibration messages between ranks (comm/calibration_exchange.h) under
// real MPI, launched by mpiexec at 1, 2 and 3 ranks.
#include "comm/calibration_exchange.h"

#include <gtest/gtest.h>

#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "mpi_test_util.h"

namespace mpsbatch {

namespace {

Communicator* g_comm = nullptr;

TEST(ElectDeviceLeader, TheLowestRankOfEachDeviceOnTheHostLeads) {
  // Every rank of this test runs on one host: even ranks on one device, odd
  // ranks on another.
  const int rank = g_comm->rank();
  EXPECT_EQ(ElectDeviceLeader(*g_comm, rank % 2 == 0 ? "cuda:0" : "cuda:1"), rank % 2);
  EXPECT_EQ(ElectDeviceLeader(*g_comm, "cpu"), 0);
}

TEST(ShareArrays, RankZerosArraysReachEveryRank) {
  const std::vector<std::pair<DType, Shape>> layouts{{DType::kInt32, {3, 2}}, {DType::kFloat64, {3}}};
  std::exception_ptr failed;
  const auto arrays = ShareArrays(
      *g_comm, layouts,
      [&](size_t i) {
        HostArray a(layouts[i].first, layouts[i].second);
        for (size_t b = 0; b < a.bytes.size(); ++b) a.bytes.data()[b] = static_cast<std::byte>(b + 10 * i);
        return a;
      },
      &failed);
  EXPECT_FALSE(failed);
  ASSERT_EQ(arrays.size(), 2u);
  for (size_t i = 0; i < arrays.size(); ++i) {
    EXPECT_EQ(arrays[i].shape, layouts[i].second);
    for (size_t b = 0; b < arrays[i].bytes.size(); ++b)
      ASSERT_EQ(arrays[i].bytes.data()[b], static_cast<std::byte>(b + 10 * i)) << "array " << i << " byte " << b;
  }
}

TEST(ShareArrays, ARankZeroThatCannotReadLeavesEveryRankWithNone) {
  const std::vector<std::pair<DType, Shape>> layouts{{DType::kInt32, {3, 2}}, {DType::kInt32, {3}}};
  std::exception_ptr failed;
  const auto arrays = ShareArrays(
      *g_comm, layouts, [](size_t) -> HostArray { throw std::runtime_error("unreadable"); }, &failed);
  EXPECT_TRUE(arrays.empty());
  EXPECT_EQ(failed != nullptr, g_comm->rank() == 0);
}

TEST(ShareChoices, EveryRanksChoiceInRankOrderOnEveryRank) {
  const auto all = ShareChoices(*g_comm, std::to_string(g_comm->rank()) + "\npath");
  ASSERT_EQ(all.size(), static_cast<size_t>(g_comm->size()));
  for (int r = 0; r < g_comm->size(); ++r) EXPECT_EQ(all[static_cast<size_t>(r)], std::to_string(r) + "\npath");
}

}  // namespace

}  // namespace mpsbatch

int main(int argc, char** argv) { return mpsbatch::testing::RunOnEveryRank(argc, argv, &mpsbatch::g_comm); }
