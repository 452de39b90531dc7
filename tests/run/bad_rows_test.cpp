// The pieces of on_error: skip around the pipeline: which failures are the
// device's, the fill values, the failed rows' messages on the wire, and rank
// 0's tally against max_failed_rows.
#include "run/bad_rows.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "common/error.h"

namespace mpsbatch {
namespace {

TEST(IsDeviceFailure, NamesCudaAndMemoryFailuresNotTheModels) {
  EXPECT_TRUE(IsDeviceFailure("forward failed for inputs [8, 8]: CUDA error: an illegal memory access"));
  EXPECT_TRUE(IsDeviceFailure("forward failed: CUDA out of memory. Tried to allocate 2.00 GiB"));
  EXPECT_TRUE(IsDeviceFailure("cudaErrorLaunchFailure"));
  EXPECT_TRUE(IsDeviceFailure("device-side assert triggered"));
  EXPECT_FALSE(IsDeviceFailure("forward failed for inputs [8, 8, 8]: builtins.RuntimeError: poisoned row in batch"));
  EXPECT_FALSE(IsDeviceFailure("index 70000 is out of bounds for dimension 0 with size 50000"));
}

TEST(FillRow, NanForFloatsZeroForIntegers) {
  HostArray f(DType::kFloat32, {3, 2}), d(DType::kFloat64, {2}), i(DType::kInt64, {2, 3});
  std::memset(f.bytes.data(), 0x11, f.bytes.size());
  std::memset(d.bytes.data(), 0x11, d.bytes.size());
  std::memset(i.bytes.data(), 0x11, i.bytes.size());
  FillRow(f, 1);
  FillRow(d, 0);
  FillRow(i, 1);
  const auto* fv = reinterpret_cast<const float*>(f.bytes.data());
  EXPECT_FALSE(std::isnan(fv[1]));
  EXPECT_TRUE(std::isnan(fv[2]) && std::isnan(fv[3]));
  EXPECT_FALSE(std::isnan(fv[4]));
  EXPECT_TRUE(std::isnan(reinterpret_cast<const double*>(d.bytes.data())[0]));
  const auto* iv = reinterpret_cast<const int64_t*>(i.bytes.data());
  EXPECT_NE(iv[2], 0);
  EXPECT_EQ(iv[3], 0);
  EXPECT_EQ(iv[5], 0);
}

TEST(StoredOutputs, AddTheFailedDatasetOnlyWhenSkipping) {
  const std::vector<OutputSpec> outputs = {{"y", DType::kFloat32, {4}}};
  EXPECT_EQ(StoredOutputs(outputs, OnError::kFail).size(), 1u);
  const auto stored = StoredOutputs(outputs, OnError::kSkip);
  ASSERT_EQ(stored.size(), 2u);
  EXPECT_EQ(stored[1].name, "failed");
  EXPECT_EQ(stored[1].dtype, DType::kUInt8);
  EXPECT_EQ(stored[1].row_bytes(), 1u);
}

TEST(FailedRowsWire, RoundTripsAndRefusesCutBytes) {
  std::vector<FailedRow> rows = {{3, "first"}, {40, std::string(5000, 'x')}};
  const std::string bytes = EncodeFailedRows(rows);
  const auto back = DecodeFailedRows(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size());
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].row, 3);
  EXPECT_EQ(back[0].message, "first");
  EXPECT_EQ(back[1].row, 40);
  EXPECT_EQ(back[1].message.size(), 1000u);
  EXPECT_THROW(DecodeFailedRows(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size() - 1), CommError);
}

HostArray Flags(std::initializer_list<int> v) {
  HostArray a(DType::kUInt8, {static_cast<int64_t>(v.size())});
  size_t i = 0;
  for (int x : v) a.bytes[i++] = static_cast<std::byte>(x);
  return a;
}

TEST(FailedRowTally, CountsKeepsTheLowestRowsAndHasNoLimitByDefault) {
  FailedRowTally tally(true, 1000, {});
  tally.Add(100, Flags({0, 1, 0, 1}), {{101, "a"}, {103, "b"}});
  tally.AddRecorded(0, Flags({1, 0}));
  const FailedRows& rows = tally.rows();
  EXPECT_EQ(rows.count, 3);
  EXPECT_FALSE(rows.limit);
  ASSERT_EQ(rows.first.size(), 3u);
  EXPECT_EQ(rows.first[0].row, 0);
  EXPECT_EQ(rows.first[0].message, "(recorded by an earlier run)");
  EXPECT_EQ(rows.first[1].row, 101);
  EXPECT_EQ(rows.first[1].message, "a");
  EXPECT_EQ(FailedRowsLine(rows, 2),
            "3 rows failed and were filled (on_error: skip, max_failed_rows: none); marked 1 in the output's 'failed' "
            "dataset: rows 0, 101, ...; row 0: (recorded by an earlier run)");
  EXPECT_EQ(FailedRowsLine(FailedRows{true, 0, {}, "none", {}}, 10),
            "0 rows failed and were filled (on_error: skip, max_failed_rows: none)");
}

TEST(FailedRowTally, ACountLimitFailsTheJobOncePassed) {
  FailedRowsLimit limit;
  limit.count = 2;
  FailedRowTally tally(true, 1000, limit);
  tally.Add(0, Flags({1, 1, 0}), {{0, "a"}, {1, "b"}});
  try {
    tally.Add(3, Flags({0, 1}), {{4, "c"}});
    FAIL() << "no throw";
  } catch (const ModelError& e) {
    EXPECT_STREQ(e.what(),
                 "3 rows failed, more than max_failed_rows: 2 allows (2 rows); the first, row 0: a; fix those rows or "
                 "raise max_failed_rows");
  }
}

TEST(FailedRowTally, RowsWithoutAMessageSaySoAndRecordedRowsSayWhence) {
  FailedRowsLimit limit;
  limit.count = 1;
  FailedRowTally tally(true, 1000, limit);
  try {
    tally.Add(20, Flags({1, 1}), {});
    FAIL() << "no throw";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("the first, row 20: (error not kept: a chunk sends those of its first 16 "
                                         "failed rows)"),
              std::string::npos)
        << e.what();
  }
  FailedRowTally resumed(true, 1000, {});
  resumed.AddRecorded(0, Flags({0, 1}));
  EXPECT_EQ(resumed.rows().first.at(0).message, "(recorded by an earlier run)");
}

TEST(FailedRowTally, APercentLimitIsTakenOfTheJobsRows) {
  FailedRowsLimit limit;
  limit.percent = 0.5;
  EXPECT_EQ(limit.For(1000), 5);
  EXPECT_EQ(limit.For(100), 0);
  EXPECT_EQ(limit.Text(), "0.5%");
  FailedRowTally tally(true, 100, limit);
  EXPECT_THROW(tally.Add(0, Flags({0, 1}), {}), ModelError);
}

}  // namespace
}  // namespace mpsbatch
