// The rank loop under real MPI (launched by mpiexec at 1-4 ranks) with a fake
// engine, so the bookkeeping is tested apart from torch: every row reaches the
// output exactly once, in place, in shared and scatter mode, at any chunking.
#include "run/rank_loop.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "common/error.h"
#include "read/hdf5_handle.h"
#include "test_util.h"

namespace mpsbatch {

namespace {

Communicator* g_comm = nullptr;

// y = 2 * x + 1 per element, and a second output: the row's sum.
class FakeEngine : public Engine {
 public:
  std::vector<HostArray> Run(const std::vector<ArrayView>& inputs) override {
    const ArrayView& x = inputs.at(0);
    const int64_t rows = x.shape[0], width = x.shape[1];
    HostArray y(DType::kFloat32, {rows, width}), sum(DType::kFloat32, {rows});
    const auto* in = reinterpret_cast<const float*>(x.data);
    auto* out = reinterpret_cast<float*>(y.bytes.data());
    auto* s = reinterpret_cast<float*>(sum.bytes.data());
    for (int64_t r = 0; r < rows; ++r) {
      s[r] = 0;
      for (int64_t c = 0; c < width; ++c) {
        out[r * width + c] = 2 * in[r * width + c] + 1;
        s[r] += in[r * width + c];
      }
    }
    std::vector<HostArray> outs;
    outs.push_back(std::move(y));
    outs.push_back(std::move(sum));
    return outs;
  }
  DeviceKind device_kind() const override { return DeviceKind::kCpu; }
  std::string device_name() const override { return "fake"; }
  std::string format() const override { return "fake"; }
};

struct LoopCase {
  int64_t rows, chunk_rows, batch;
  InputMode mode;
};

class RankLoopTest : public ::testing::TestWithParam<LoopCase> {};

std::string CaseDir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(info->name()) + "_np" + std::to_string(g_comm->size());
  for (auto& c : name)
    if (c == '/') c = '_';
  return (std::filesystem::path(MPSBATCH_TEST_TMP) / "rank_loop" / name).string();
}

TEST_P(RankLoopTest, EveryRowWrittenOnceInPlace) {
  const LoopCase& tc = GetParam();
  Communicator& comm = *g_comm;
  const std::string dir = CaseDir();
  const std::string in_path = dir + "/in.h5", out_path = dir + "/out.h5";
  const int64_t width = 3;
  if (comm.rank() == 0) {
    testing::RemoveTree(dir);
    std::filesystem::create_directories(dir);
    ResultWriter w(in_path, {{"x", DType::kFloat32, {width}}}, tc.rows);
    std::vector<float> x(static_cast<size_t>(tc.rows * width));
    for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i);
    w.WriteRows(0, 0, tc.rows, reinterpret_cast<const std::byte*>(x.data()));
    w.Commit(true);
  }
  comm.Barrier();

  JobPlan plan;
  plan.rows = tc.rows;
  plan.chunk_rows = tc.chunk_rows;
  plan.mode = tc.mode;
  plan.inputs = {{"x", DType::kFloat32, {tc.rows, width}}};
  plan.outputs = {{"y", DType::kFloat32, {width}}, {"sum", DType::kFloat32, {}}};
  const ChunkPlan chunks(plan.rows, plan.chunk_rows, comm.size());
  std::unique_ptr<InputFile> input;
  if (comm.rank() == 0 || tc.mode == InputMode::kShared) input = std::make_unique<InputFile>(in_path);
  std::unique_ptr<ResultWriter> writer;
  if (comm.rank() == 0) writer = std::make_unique<ResultWriter>(out_path, plan.outputs, plan.rows);
  FakeEngine engine;
  RankStats stats = RunRankLoop({comm, engine, plan, chunks, tc.batch, input.get(), writer.get(), 2});
  EXPECT_EQ(comm.AllreduceSum(stats.rows), tc.rows);
  EXPECT_EQ(comm.AllreduceSum(stats.chunks), chunks.num_chunks());

  if (comm.rank() == 0) {
    writer->Commit(true);
    InputFile out(out_path);
    HostArray y = out.ReadRows(out.Describe("y"), 0, tc.rows);
    HostArray sum = out.ReadRows(out.Describe("sum"), 0, tc.rows);
    const auto* py = reinterpret_cast<const float*>(y.bytes.data());
    const auto* ps = reinterpret_cast<const float*>(sum.bytes.data());
    for (int64_t i = 0; i < tc.rows * width; ++i) ASSERT_EQ(py[i], 2 * static_cast<float>(i) + 1) << "element " << i;
    for (int64_t r = 0; r < tc.rows; ++r) ASSERT_EQ(ps[r], static_cast<float>(9 * r + 3)) << "row " << r;
  }
  comm.Barrier();
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, RankLoopTest,
    ::testing::Values(LoopCase{1, 1, 1, InputMode::kShared}, LoopCase{1, 1, 1, InputMode::kScatter},
                      LoopCase{3, 1, 2, InputMode::kShared}, LoopCase{3, 1, 2, InputMode::kScatter},
                      LoopCase{103, 16, 8, InputMode::kShared}, LoopCase{103, 16, 8, InputMode::kScatter},
                      LoopCase{103, 7, 3, InputMode::kScatter}, LoopCase{1000, 13, 5, InputMode::kShared},
                      LoopCase{1000, 13, 5, InputMode::kScatter}));

}  // namespace

}  // namespace mpsbatch

int main(int argc, char** argv) {
  mpsbatch::MpiSession mpi(&argc, &argv);
  mpsbatch::SilenceHdf5Errors();
  ::testing::InitGoogleTest(&argc, argv);
  mpsbatch::Communicator comm;
  mpsbatch::g_comm = &comm;
  // Only rank 0 prints the gtest report; every rank's result decides the exit code.
  if (comm.rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  const int failed = RUN_ALL_TESTS();
  const int any_failed = static_cast<int>(comm.AllreduceMax(failed));
  return any_failed;
}
