// ChunkPipeline under on_error: skip with a fake engine that refuses any batch
// holding a marked row (at Start, as on a CPU, or at Finish, as on CUDA, with
// two batches in flight): the failed rows are found exactly, the other rows
// are what a batch without the marked rows gives, results stay in chunk order,
// and a device failure or on_error: fail still fails the chunk.
#include "run/compute_worker.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

#include "common/error.h"

namespace mpsbatch {
namespace {

constexpr float kMark = -5000.0f;

// y = 3x + (the batch's size), per element of 2-wide rows: a row's output
// depends on the batch's shape, as a device's last bits may. Fails any batch
// holding a row whose first value is kMark, with `message`.
class MarkedRowsEngine : public Engine {
 public:
  MarkedRowsEngine(bool fail_at_start, std::string message) : at_start_(fail_at_start), message_(std::move(message)) {}

  void Start(const std::vector<ArrayView>& inputs) override {
    if (in_flight_.size() >= max_in_flight()) throw InternalError("fake engine: too many in flight");
    const ArrayView& x = inputs.at(0);
    const auto* in = reinterpret_cast<const float*>(x.data);
    bool marked = false;
    for (int64_t r = 0; r < x.shape[0]; ++r) marked |= in[r * 2] == kMark;
    if (marked && at_start_) throw ModelError(message_);
    HostArray y(DType::kFloat32, {x.shape[0], 2});
    auto* out = reinterpret_cast<float*>(y.bytes.data());
    for (int64_t i = 0; i < x.shape[0] * 2; ++i) out[i] = 3 * in[i] + static_cast<float>(x.shape[0]);
    in_flight_.push_back({marked, std::move(y)});
    ++batches;
  }
  std::vector<HostArray> Finish() override {
    auto f = std::move(in_flight_.front());
    in_flight_.pop_front();
    if (f.first) throw ModelError(message_);
    std::vector<HostArray> out;
    out.push_back(std::move(f.second));
    return out;
  }
  void Abandon() override { in_flight_.clear(); }
  void CheckInputs(const std::vector<ArrayView>&, const BatchSizes&) override {}
  size_t in_flight() const override { return in_flight_.size(); }
  size_t max_in_flight() const override { return 2; }
  Calibration Calibrate(const std::vector<ArrayView>&, const CalibrationBudget&) override { return {}; }
  Calibration Adopt(const std::string&, const std::vector<ArrayView>&) override { return {}; }
  DeviceKind device_kind() const override { return DeviceKind::kCpu; }
  std::string device_name() const override { return "fake"; }
  std::string device_model() const override { return ""; }
  std::string format() const override { return "fake"; }

  int batches = 0;

 private:
  bool at_start_;
  std::string message_;
  std::deque<std::pair<bool, HostArray>> in_flight_;
};

JobPlan Plan() {
  JobPlan plan;
  plan.outputs = {{"y", DType::kFloat32, {2}}};
  return plan;
}

// Rows [begin, end) of x, row r = (r, r + 0.5), the marked ones kMark.
WorkItem Item(int64_t id, int64_t begin, int64_t end, const std::set<int64_t>& marked) {
  WorkItem item;
  item.chunk = Chunk{id, begin, end};
  HostArray x(DType::kFloat32, {end - begin, 2});
  auto* v = reinterpret_cast<float*>(x.bytes.data());
  for (int64_t r = begin; r < end; ++r) {
    v[(r - begin) * 2] = marked.count(r) ? kMark : static_cast<float>(r);
    v[(r - begin) * 2 + 1] = static_cast<float>(r) + 0.5f;
  }
  item.inputs.push_back(std::move(x));
  return item;
}

// Drives the pipeline as ComputeWorker does; the results in order.
std::vector<ResultItem> RunAll(Engine& engine, const JobPlan& plan, const ComputeSettings& s,
                               std::vector<WorkItem> items) {
  ChunkPipeline pipe(engine, plan, s);
  std::vector<ResultItem> results;
  for (auto& item : items) pipe.Add(std::move(item));
  while (pipe.CanStart() || !pipe.Idle()) {
    if (pipe.CanStart() && pipe.HasRoom()) {
      if (auto failure = pipe.StartNext()) {
        results.push_back(std::move(*failure));
        return results;
      }
      continue;
    }
    if (auto r = pipe.FinishOldest()) {
      const bool failed = r->error != nullptr;
      results.push_back(std::move(*r));
      if (failed) return results;
    }
  }
  return results;
}

ComputeSettings Skip(int64_t batch) {
  ComputeSettings s;
  s.batch_size = batch;
  s.skip_failed_rows = true;
  return s;
}

class Isolation : public ::testing::TestWithParam<bool> {};

TEST_P(Isolation, FindsTheMarkedRowsAndScoresTheOthersAtTheBatchShape) {
  const std::set<int64_t> marked = {0, 9, 10, 15, 21};
  MarkedRowsEngine engine(GetParam(), "forward failed: marked row");
  const JobPlan plan = Plan();
  // Chunks of 12 rows (the last 6), batches of 8: batches of 8 and 4 rows.
  std::vector<WorkItem> items;
  items.push_back(Item(0, 0, 12, marked));
  items.push_back(Item(1, 12, 24, marked));
  items.push_back(Item(2, 24, 30, marked));
  const auto results = RunAll(engine, plan, Skip(8), std::move(items));
  ASSERT_EQ(results.size(), 3u);
  std::set<int64_t> failed, messages;
  for (size_t c = 0; c < results.size(); ++c) {
    const ResultItem& r = results[c];
    ASSERT_FALSE(r.error);
    EXPECT_EQ(r.chunk.id, static_cast<int64_t>(c));
    ASSERT_EQ(r.outputs.size(), 2u);  // y, failed
    const auto* y = reinterpret_cast<const float*>(r.outputs[0].bytes.data());
    for (int64_t i = 0; i < r.chunk.rows(); ++i) {
      const int64_t row = r.chunk.begin + i;
      if (r.outputs[1].bytes[static_cast<size_t>(i)] != std::byte{0}) {
        failed.insert(row);
        EXPECT_TRUE(std::isnan(y[i * 2]) && std::isnan(y[i * 2 + 1])) << "row " << row;
        continue;
      }
      // The row's batch as a clean run has it: 8 rows, or the chunk's rest.
      const int64_t batch_rows = std::min<int64_t>(8, r.chunk.rows() - i / 8 * 8);
      EXPECT_EQ(y[i * 2], 3 * static_cast<float>(row) + static_cast<float>(batch_rows)) << "row " << row;
      EXPECT_EQ(y[i * 2 + 1], 3 * (static_cast<float>(row) + 0.5f) + static_cast<float>(batch_rows)) << "row " << row;
    }
    for (const auto& f : r.failed_rows) {
      messages.insert(f.row);
      EXPECT_EQ(f.message, "forward failed: marked row");
    }
  }
  EXPECT_EQ(failed, marked);
  EXPECT_EQ(messages, marked);
}

TEST_P(Isolation, ADeviceFailureIsNotARowsFailure) {
  MarkedRowsEngine engine(GetParam(), "forward failed: CUDA error: an illegal memory access was encountered");
  const auto results = RunAll(engine, Plan(), Skip(8), {Item(0, 0, 12, {3})});
  ASSERT_EQ(results.size(), 1u);
  ASSERT_TRUE(results[0].error);
  EXPECT_THROW(std::rethrow_exception(results[0].error), ModelError);
  // No row ran alone: only the pipeline's own batches (at Finish, both
  // batches of the chunk were in flight).
  EXPECT_EQ(engine.batches, GetParam() ? 0 : 2);
}

TEST_P(Isolation, OnErrorFailStillFailsTheChunk) {
  MarkedRowsEngine engine(GetParam(), "forward failed: marked row");
  ComputeSettings fail;
  fail.batch_size = 8;
  const auto results = RunAll(engine, Plan(), fail, {Item(0, 0, 12, {3})});
  ASSERT_EQ(results.size(), 1u);
  ASSERT_TRUE(results[0].error);
  try {
    std::rethrow_exception(results[0].error);
  } catch (const ModelError& e) {
    EXPECT_STREQ(e.what(), "rows 0..8: forward failed: marked row");
  }
}

INSTANTIATE_TEST_SUITE_P(FailingAt, Isolation, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "Start" : "Finish"; });

// fail_on_nonfinite with skip: the rows with a NaN or Inf fail, no row is run
// again, and the others keep the batch's outputs.
TEST(NonFiniteRows, FailUnderFailOnNonfiniteWhenSkipping) {
  MarkedRowsEngine engine(true, "unused");
  ComputeSettings s = Skip(4);
  s.fail_on_nonfinite = true;
  WorkItem item = Item(0, 0, 6, {});
  reinterpret_cast<float*>(item.inputs[0].bytes.data())[2 * 2 + 1] = INFINITY;  // row 2
  const auto results = RunAll(engine, Plan(), s, {std::move(item)});
  ASSERT_EQ(results.size(), 1u);
  ASSERT_FALSE(results[0].error);
  EXPECT_EQ(engine.batches, 2);
  for (int64_t r = 0; r < 6; ++r)
    EXPECT_EQ(results[0].outputs[1].bytes[static_cast<size_t>(r)], static_cast<std::byte>(r == 2 ? 1 : 0))
        << "row " << r;
  ASSERT_EQ(results[0].failed_rows.size(), 1u);
  EXPECT_EQ(results[0].failed_rows[0].row, 2);
  EXPECT_EQ(results[0].failed_rows[0].message,
            "output 'y' has a non-finite value (NaN or Inf), and fail_on_nonfinite is set");
  EXPECT_EQ(results[0].nonfinite.values, 0);
}

// The worker's thread takes the engine's threads (UseOnThisThread) before it
// starts any batch there: libtorch's intra-op count is per OS thread.
class ThreadRecordingEngine : public MarkedRowsEngine {
 public:
  ThreadRecordingEngine() : MarkedRowsEngine(true, "unused") {}
  void UseOnThisThread() override {
    std::lock_guard<std::mutex> hold(mutex);
    prepared.insert(std::this_thread::get_id());
  }
  void Start(const std::vector<ArrayView>& inputs) override {
    {
      std::lock_guard<std::mutex> hold(mutex);
      if (!prepared.count(std::this_thread::get_id())) ++unprepared_starts;
    }
    MarkedRowsEngine::Start(inputs);
  }
  std::mutex mutex;
  std::set<std::thread::id> prepared;
  int unprepared_starts = 0;
};

TEST(ComputeWorker, RunsBatchesOnAThreadGivenTheEnginesThreads) {
  ThreadRecordingEngine engine;
  const JobPlan plan = Plan();
  ComputeSettings s;
  s.batch_size = 2;
  {
    ComputeWorker worker(engine, plan, s, 2);
    worker.Submit(Item(0, 0, 4, {}));
    ASSERT_FALSE(worker.Next().error);
  }
  EXPECT_EQ(engine.batches, 2);
  EXPECT_EQ(engine.unprepared_starts, 0);
  EXPECT_EQ(engine.prepared.count(std::this_thread::get_id()), 0u) << "the worker's own thread, not the caller's";
}

}  // namespace
}  // namespace mpsbatch
