// DistributeFile (comm/file_distribution.h) under real MPI, launched by
// mpiexec at 1, 2 and 3 ranks: every rank ends with rank 0's bytes, read
// locally where its copy is the same and received where it is not.
#include "comm/file_distribution.h"

#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "common/sha256.h"
#include "mpi_test_util.h"

namespace mpsbatch {

namespace {

Communicator* g_comm = nullptr;

// Rank 0's bytes, and `local` as every other rank's copy (nullptr: none).
struct Distributed {
  std::shared_ptr<const std::string> bytes;
  std::string identity;
  bool read_locally = false;
  int hashed = 0;  // times rank 0 was asked for its bytes' SHA-256
};

Distributed Distribute(const std::string& rank0s, const std::shared_ptr<const std::string>& local,
                       const std::string& local_identity) {
  Distributed d;
  if (g_comm->rank() == 0) {
    d.bytes = std::make_shared<const std::string>(rank0s);
    d.identity = "rank 0's file";
  }
  DistributeFile(
      *g_comm, "model.path", "/models/m.pt",
      [&] {
        ++d.hashed;
        return Sha256Hex(rank0s);
      },
      static_cast<int64_t>(rank0s.size()), d.identity, d.bytes,
      [&](std::string* identity) {
        d.read_locally = true;
        if (!local) throw std::runtime_error("no such file");
        *identity = local_identity;
        return local;
      });
  return d;
}

TEST(DistributeFile, ARankWithoutTheFileReceivesRankZerosBytes) {
  const std::string model(1000, 'm');
  const auto d = Distribute(model, nullptr, "");
  ASSERT_TRUE(d.bytes);
  EXPECT_EQ(*d.bytes, model);
  EXPECT_EQ(d.identity, g_comm->rank() == 0 ? "rank 0's file" : "");
  EXPECT_EQ(d.read_locally, g_comm->rank() != 0);
}

TEST(DistributeFile, ARankWithADifferentCopyReceivesRankZerosBytes) {
  const std::string model = "rank 0's model";
  const auto d = Distribute(model, std::make_shared<const std::string>("another model"), "another file");
  ASSERT_TRUE(d.bytes);
  EXPECT_EQ(*d.bytes, model);
  EXPECT_EQ(d.identity, g_comm->rank() == 0 ? "rank 0's file" : "");
}

TEST(DistributeFile, ARankWithTheSameBytesKeepsItsOwnCopy) {
  const std::string model = "the same model";
  const auto local = std::make_shared<const std::string>(model);
  const auto d = Distribute(model, local, "its own file");
  ASSERT_TRUE(d.bytes);
  EXPECT_EQ(*d.bytes, model);
  if (g_comm->rank() != 0) {
    EXPECT_EQ(d.bytes, local);  // not a received copy
    EXPECT_EQ(d.identity, "its own file");
  }
  EXPECT_EQ(d.hashed, g_comm->rank() == 0 && g_comm->size() > 1 ? 1 : 0);
}

// Rank 0's bytes are hashed only for a rank that must check its copy.
TEST(DistributeFile, TheVeryFileRankZeroReadNeedsNoHash) {
  const std::string model = "the same file";
  const auto local = std::make_shared<const std::string>(model);
  const auto d = Distribute(model, local, "rank 0's file");  // same host, same identity
  ASSERT_TRUE(d.bytes);
  EXPECT_EQ(*d.bytes, model);
  EXPECT_EQ(d.hashed, 0);
  if (g_comm->rank() != 0) {
    EXPECT_EQ(d.bytes, local);
  }
}

}  // namespace

}  // namespace mpsbatch

int main(int argc, char** argv) { return mpsbatch::testing::RunOnEveryRank(argc, argv, &mpsbatch::g_comm); }
