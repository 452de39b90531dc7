// The parts of infer/engine.h that need no torch: the rate measurement that
// calibration and the batch-size search share.
#include "infer/engine.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace mpsbatch {
namespace {

// Every batch takes `delay`; counts the batches started.
class SlowEngine : public Engine {
 public:
  explicit SlowEngine(std::chrono::milliseconds delay) : delay_(delay) {}
  void Start(const std::vector<ArrayView>&) override {
    std::this_thread::sleep_for(delay_);
    ++started;
    ++in_flight_;
  }
  std::vector<HostArray> Finish() override {
    --in_flight_;
    return {};
  }
  void Abandon() override { in_flight_ = 0; }
  size_t in_flight() const override { return in_flight_; }
  size_t max_in_flight() const override { return 2; }
  void CheckInputs(const std::vector<ArrayView>&, const BatchSizes&) override {}
  Calibration Calibrate(const std::vector<ArrayView>&, const CalibrationBudget&) override { return {}; }
  Calibration Adopt(const std::string&, const std::vector<ArrayView>&) override { return {}; }
  DeviceKind device_kind() const override { return DeviceKind::kCpu; }
  std::string device_name() const override { return "slow"; }
  std::string device_model() const override { return ""; }
  std::string format() const override { return "slow"; }

  int started = 0;

 private:
  std::chrono::milliseconds delay_;
  size_t in_flight_ = 0;
};

std::vector<ArrayView> Batch(int64_t rows) {
  static const std::vector<std::byte> bytes(64);
  return {ArrayView{DType::kUInt8, {rows}, bytes.data()}};
}

// A slow model's calibration paid a warm-up and three timed batches per path
// whatever its budget.
TEST(MeasureRowsPerSecond, TimesABatchSlowerThanTheBudgetOnce) {
  SlowEngine engine(std::chrono::milliseconds(100));
  const double rate = MeasureRowsPerSecond(engine, Batch(8), 0.02);
  EXPECT_EQ(engine.started, 2);  // the warm-up and one timed batch
  EXPECT_GT(rate, 8 / 0.5);
  EXPECT_LT(rate, 8 / 0.09);
  EXPECT_EQ(engine.in_flight(), 0u);
}

TEST(CalibrationBudget, TheLeastOfItsSecondsAndItsShareOfTheJob) {
  CalibrationBudget b(30);
  EXPECT_DOUBLE_EQ(b.Left(0), 30);  // no job size: calibration_seconds
  b.job_rows = 1000;
  EXPECT_DOUBLE_EQ(b.Left(0), 30);      // no rate yet
  EXPECT_DOUBLE_EQ(b.Left(10), 10);     // 100 s of job: 10% of it
  EXPECT_DOUBLE_EQ(b.Left(1), 30);      // 1000 s: calibration_seconds
  EXPECT_DOUBLE_EQ(b.Left(1e6), 0.25);  // 1 ms: the floor
  b.ranks = 2;
  EXPECT_DOUBLE_EQ(b.Left(10), 5);  // two ranks halve the job
  b.spent = 1;
  EXPECT_DOUBLE_EQ(b.Left(10), 4);
}

TEST(MeasureRowsPerSecond, TimesFastBatchesUntilTheBudgetOrFifty) {
  SlowEngine fast(std::chrono::milliseconds(0));
  MeasureRowsPerSecond(fast, Batch(8), 10.0);
  EXPECT_EQ(fast.started, 51);  // the warm-up and 50
  SlowEngine medium(std::chrono::milliseconds(10));
  MeasureRowsPerSecond(medium, Batch(8), 0.1);
  EXPECT_GE(medium.started, 3);  // more than the one a slow batch gets
  EXPECT_LE(medium.started, 13);
}

}  // namespace
}  // namespace mpsbatch
