// The rank loop under real MPI (launched by mpiexec at 1-4 ranks) with a fake
// engine, so the bookkeeping is tested apart from torch: every row reaches the
// output exactly once, in place, in shared and scatter mode, at any chunking,
// from one input file or several.
#include "run/rank_loop.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <thread>

#include "common/error.h"
#include "hdf5/handle.h"
#include "mpi_test_util.h"
#include "source_files_util.h"
#include "test_util.h"

namespace mpsbatch {

namespace {

Communicator* g_comm = nullptr;

// y = 2 * x + 1 per element, and a second output: the row's sum. Each batch
// takes at least `delay`, to play a slow device. Two batches may be in flight,
// as on CUDA.
class FakeEngine : public Engine {
 public:
  explicit FakeEngine(std::chrono::milliseconds delay = {}) : delay_(delay) {}

  void Start(const std::vector<ArrayView>& inputs) override {
    if (in_flight_.size() >= max_in_flight()) throw InternalError("fake engine: too many in flight");
    in_flight_.push_back(Compute(inputs));
  }
  std::vector<HostArray> Finish() override {
    auto out = std::move(in_flight_.front());
    in_flight_.pop_front();
    return out;
  }
  void Abandon() override { in_flight_.clear(); }
  void CheckInputs(const std::vector<ArrayView>&, const BatchSizes&) override {}
  size_t in_flight() const override { return in_flight_.size(); }
  size_t max_in_flight() const override { return 2; }
  Calibration Calibrate(const std::vector<ArrayView>& batch, const CalibrationBudget&) override {
    return Adopt("fake", batch);
  }
  Calibration Adopt(const std::string& path, const std::vector<ArrayView>& batch) override {
    Calibration c;
    c.batch_rows = batch.at(0).shape[0];
    c.chosen = path;
    return c;
  }

  std::vector<HostArray> Compute(const std::vector<ArrayView>& inputs) const {
    if (delay_.count() > 0) std::this_thread::sleep_for(delay_);
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
  std::string device_model() const override { return ""; }
  std::string format() const override { return "fake"; }

 private:
  std::chrono::milliseconds delay_;
  std::deque<std::vector<HostArray>> in_flight_;
};

ComputeSettings Settings(int64_t batch) {
  ComputeSettings s;
  s.batch_size = batch;
  return s;
}

struct LoopCase {
  int64_t rows, chunk_rows, batch;
  InputMode mode;
  Schedule schedule;
  int files = 1;  // input files the rows are split over
};

void PrintTo(const LoopCase& c, std::ostream* os) {
  *os << c.rows << " rows, chunks of " << c.chunk_rows << ", batch " << c.batch << ", " << InputModeName(c.mode) << ", "
      << ScheduleName(c.schedule) << ", " << c.files << " file(s)";
}

// Rows per file: uneven (the first files smallest), and with several files
// one without rows second.
std::vector<int64_t> FileRows(int64_t rows, int files) {
  if (files == 1) return {rows};
  std::vector<int64_t> counts;
  const int64_t n = files - 1;
  for (int64_t k = 0; k < n; ++k) counts.push_back(rows * (k + 1) * (k + 1) / (n * n) - rows * k * k / (n * n));
  counts.insert(counts.begin() + 1, 0);
  return counts;
}

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
  const std::string out_path = dir + "/out.h5";
  const int64_t width = 3;
  // Element i of the rows of all files holds i.
  const std::vector<int64_t> file_rows = FileRows(tc.rows, tc.files);
  std::vector<InputShard> shards;
  if (comm.rank() == 0) {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
  }
  comm.Barrier();
  int64_t first = 0;
  for (size_t f = 0; f < file_rows.size(); ++f) {
    const std::string path = dir + "/in-" + std::to_string(f) + ".h5";
    if (comm.rank() == 0)
      testing::WriteFloatRows(path, "x", static_cast<hsize_t>(file_rows[f]), width, static_cast<float>(first * width));
    shards.push_back({path, file_rows[f], {}});
    first += file_rows[f];
  }
  comm.Barrier();
  for (auto& shard : shards) shard.stamp = *StampOf(shard.path);

  JobPlan plan;
  plan.rows = tc.rows;
  plan.chunk_rows = tc.chunk_rows;
  plan.mode = tc.mode;
  plan.inputs = {{"x", DType::kFloat32, {tc.rows, width}}};
  plan.outputs = {{"y", DType::kFloat32, {width}}, {"sum", DType::kFloat32, {}}};
  plan.input_files = shards;
  const ChunkPlan chunks = PlanChunks(plan, comm.size());
  std::unique_ptr<InputSet> input;
  if (comm.rank() == 0 || tc.mode == InputMode::kShared)
    input = std::make_unique<InputSet>(shards, plan.inputs, ReadOptions{}, true);
  std::unique_ptr<ResultWriter> writer;
  if (comm.rank() == 0) {
    writer = std::make_unique<ResultWriter>(out_path, plan.outputs, plan.rows, "", plan.chunk_rows);
    writer->SetChunkRows([&](int64_t id) { return std::make_pair(chunks.chunk(id).begin, chunks.chunk(id).end); });
  }
  FakeEngine engine;
  RankStats stats =
      RunRankLoop({comm, engine, plan, chunks, Settings(tc.batch), input.get(), writer.get(), 2, tc.schedule, {}, {}});
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

std::vector<LoopCase> Cases() {
  const int64_t shapes[][3] = {{1, 1, 1}, {3, 1, 2}, {103, 16, 8}, {103, 7, 3}, {1000, 13, 5}};
  std::vector<LoopCase> cases;
  for (const auto& s : shapes)
    for (InputMode mode : {InputMode::kShared, InputMode::kScatter})
      for (Schedule schedule : {Schedule::kDynamic, Schedule::kStatic})
        cases.push_back({s[0], s[1], s[2], mode, schedule});
  // Several files, some smaller than a chunk and one without rows.
  const int64_t several[][4] = {{103, 16, 8, 6}, {103, 7, 3, 4}, {1000, 13, 5, 17}};
  for (const auto& s : several)
    for (InputMode mode : {InputMode::kShared, InputMode::kScatter})
      for (Schedule schedule : {Schedule::kDynamic, Schedule::kStatic})
        cases.push_back({s[0], s[1], s[2], mode, schedule, static_cast<int>(s[3])});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Shapes, RankLoopTest, ::testing::ValuesIn(Cases()));

// One rank 20 times slower than the others. Static: it must finish its
// 1/N share, so the job takes about that long. Dynamic: the fast ranks take
// over its share, it finishes only the few chunks it was given, and the job
// takes about what the fast ranks need.
TEST(Schedule, DynamicJobTimeFollowsTheFastRanks) {
  Communicator& comm = *g_comm;
  if (comm.size() < 3) GTEST_SKIP() << "needs a slow rank and at least two fast ones";
  const int slow = comm.size() - 1;
  const int64_t rows = 96, width = 3;
  const std::string dir = CaseDir(), in_path = dir + "/in.h5";
  if (comm.rank() == 0) {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    ResultWriter w(in_path, {{"x", DType::kFloat32, {width}}}, rows);
    std::vector<float> x(static_cast<size_t>(rows * width), 1.0f);
    w.WriteRows(0, 0, rows, reinterpret_cast<const std::byte*>(x.data()));
    w.Commit(true);
  }
  comm.Barrier();

  JobPlan plan;
  plan.rows = rows;
  plan.chunk_rows = 2;  // one batch per chunk: 48 chunks
  plan.mode = InputMode::kShared;
  plan.inputs = {{"x", DType::kFloat32, {rows, width}}};
  plan.outputs = {{"y", DType::kFloat32, {width}}, {"sum", DType::kFloat32, {}}};
  const ChunkPlan chunks(plan.rows, plan.chunk_rows, comm.size());
  const auto stamp = StampOf(in_path);
  ASSERT_TRUE(stamp);
  InputSet input({{in_path, rows, *stamp}}, plan.inputs, ReadOptions{}, true);
  FakeEngine engine(std::chrono::milliseconds(comm.rank() == slow ? 100 : 5));

  auto run = [&](Schedule schedule, const std::string& out) {
    std::unique_ptr<ResultWriter> writer;
    if (comm.rank() == 0) writer = std::make_unique<ResultWriter>(dir + "/" + out, plan.outputs, plan.rows);
    comm.Barrier();
    const auto start = std::chrono::steady_clock::now();
    RankStats stats = RunRankLoop({comm, engine, plan, chunks, Settings(2), &input, writer.get(), 2, schedule, {}, {}});
    comm.Barrier();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (writer) writer->Commit(true);
    return std::make_pair(seconds, comm.Allgather(stats.chunks));
  };
  const auto [static_s, static_chunks] = run(Schedule::kStatic, "static.h5");
  const auto [dynamic_s, dynamic_chunks] = run(Schedule::kDynamic, "dynamic.h5");
  if (comm.rank() == 0) {
    const int64_t share = chunks.RangeOf(slow).second - chunks.RangeOf(slow).first;
    EXPECT_EQ(static_chunks[static_cast<size_t>(slow)], share);
    // At 20x slower it takes the `depth` chunks it starts with and about one
    // more; half its static share is a bound no loaded machine should reach.
    EXPECT_LT(dynamic_chunks[static_cast<size_t>(slow)], share / 2) << "slow rank's static share " << share;
    // Static waits for share x 100 ms; dynamic for about 48 / fast ranks x 5 ms
    // plus two slow chunks. A factor of two leaves room for a loaded machine.
    EXPECT_LT(dynamic_s * 2, static_s) << "dynamic " << dynamic_s << " s, static " << static_s << " s";
    std::printf("slow rank %d: static %.2f s (%lld chunks), dynamic %.2f s (%lld chunks)\n", slow, static_s,
                static_cast<long long>(static_chunks[static_cast<size_t>(slow)]), dynamic_s,
                static_cast<long long>(dynamic_chunks[static_cast<size_t>(slow)]));
  }
  comm.Barrier();
}

// A device that runs out of memory above 64 rows a batch; each batch takes
// 2 ms, so larger batches are faster until then.
class OutOfMemoryAbove64 : public FakeEngine {
 public:
  OutOfMemoryAbove64() : FakeEngine(std::chrono::milliseconds(2)) {}
  void Start(const std::vector<ArrayView>& inputs) override {
    if (inputs.at(0).shape[0] > 64) throw DeviceError("out of memory on fake for inputs (lower batch_size)");
    FakeEngine::Start(inputs);
  }
};

TEST(SearchBatchSize, GrowsUntilTheDeviceRunsOutOfMemory) {
  OutOfMemoryAbove64 engine;
  std::vector<HostArray> rows;
  rows.emplace_back(DType::kFloat32, Shape{1000, 4});
  std::string log;
  EXPECT_EQ(SearchBatchSize(engine, rows, 4096, 1024, 10.0, &log), 64) << log;
  EXPECT_NE(log.find("16: "), std::string::npos) << log;
  EXPECT_NE(log.find("128: out of memory"), std::string::npos) << log;
  EXPECT_EQ(engine.in_flight(), 0u);
  // The search never exceeds the chunk or the bound it is given.
  log.clear();
  std::vector<HostArray> small;
  small.emplace_back(DType::kFloat32, Shape{40, 4});
  EXPECT_LE(SearchBatchSize(engine, small, 4096, 40, 10.0, &log), 40) << log;
  EXPECT_EQ(log.find("64:"), std::string::npos) << log;
}

// A slow model's search timed sizes up to 4096 rows whatever the job's size:
// a job of 1000 rows at this rate takes well under a second, of which the
// search may take 5%, less than the next size's warm-up and one batch.
TEST(SearchBatchSize, StaysWithinItsShareOfTheJob) {
  FakeEngine engine(std::chrono::milliseconds(5));  // 5 ms a batch, whatever its size
  std::vector<HostArray> rows;
  rows.emplace_back(DType::kFloat32, Shape{4096, 4});
  CalibrationBudget budget(10.0);
  budget.job_rows = 1000;
  budget.floor_seconds = 0;
  std::string log;
  EXPECT_EQ(SearchBatchSize(engine, rows, 4096, 4096, budget, &log), 16) << log;
  EXPECT_EQ(log.find("32: "), std::string::npos) << log;
  // With the job 1000 times as long, the search goes on.
  budget.job_rows = 1e6;
  log.clear();
  EXPECT_GT(SearchBatchSize(engine, rows, 4096, 4096, budget, &log), 16) << log;
}

}  // namespace

}  // namespace mpsbatch

int main(int argc, char** argv) { return mpsbatch::testing::RunOnEveryRank(argc, argv, &mpsbatch::g_comm); }
