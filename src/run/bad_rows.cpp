#include "run/bad_rows.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "common/error.h"
#include "common/log.h"

namespace mpsbatch {

namespace {

// Failed rows logged as they arrive; the rest are only counted.
constexpr int64_t kRowsLogged = 5;
constexpr size_t kMessageBytes = 1000;

template <typename T>
void FillWith(HostArray& a, int64_t row, T value) {
  const size_t per_row = a.row_bytes() / sizeof(T);
  auto* v = reinterpret_cast<T*>(a.bytes.data()) + static_cast<size_t>(row) * per_row;
  std::fill(v, v + per_row, value);
}

constexpr const char* kRecorded = "(recorded by an earlier run)";

// A kept row's error; rows past a chunk's first kMessagesPerChunk have none.
std::string MessageOf(const FailedRow& row) {
  return row.message.empty() ? "(error not kept: a chunk sends those of its first " +
                                   std::to_string(kMessagesPerChunk) + " failed rows)"
                             : row.message;
}

void Put(std::string& out, const void* data, size_t size) { out.append(static_cast<const char*>(data), size); }

}  // namespace

bool IsDeviceFailure(const std::string& message) {
  for (const char* sign : {"CUDA error", "cudaError", "CUDA out of memory", "out of memory", "illegal memory access",
                           "device-side assert", "CUBLAS_STATUS", "CUDNN_STATUS", "NCCL error", "HIP error"})
    if (message.find(sign) != std::string::npos) return true;
  return false;
}

std::vector<OutputSpec> StoredOutputs(const std::vector<OutputSpec>& outputs, OnError on_error) {
  std::vector<OutputSpec> stored = outputs;
  if (on_error == OnError::kSkip) stored.push_back({kFailedDatasetName, DType::kUInt8, {}});
  return stored;
}

void FillRow(HostArray& a, int64_t row) {
  switch (a.dtype) {
    case DType::kFloat32: return FillWith(a, row, std::numeric_limits<float>::quiet_NaN());
    case DType::kFloat64: return FillWith(a, row, std::numeric_limits<double>::quiet_NaN());
    default:
      // Integers (and 16-bit floats, never stored) take 0.
      std::memset(a.bytes.data() + static_cast<size_t>(row) * a.row_bytes(), 0, a.row_bytes());
  }
}

std::string EncodeFailedRows(const std::vector<FailedRow>& rows) {
  std::string out;
  const uint32_t n = static_cast<uint32_t>(std::min(rows.size(), kMessagesPerChunk));
  Put(out, &n, sizeof n);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t len = static_cast<uint32_t>(std::min(rows[i].message.size(), kMessageBytes));
    Put(out, &rows[i].row, sizeof rows[i].row);
    Put(out, &len, sizeof len);
    out.append(rows[i].message, 0, len);
  }
  return out;
}

std::vector<FailedRow> DecodeFailedRows(const std::byte* data, size_t size) {
  size_t at = 0;
  auto take = [&](void* to, size_t n) {
    if (at + n > size) throw CommError("received a chunk message whose failed rows are cut short");
    std::memcpy(to, data + at, n);
    at += n;
  };
  uint32_t n = 0;
  take(&n, sizeof n);
  if (n > kMessagesPerChunk) throw CommError("received a chunk message with too many failed rows");
  std::vector<FailedRow> rows(n);
  for (auto& r : rows) {
    uint32_t len = 0;
    take(&r.row, sizeof r.row);
    take(&len, sizeof len);
    if (len > kMessageBytes) throw CommError("received a chunk message with an overlong failed row message");
    r.message.resize(len);
    take(r.message.data(), len);
  }
  if (at != size) throw CommError("received a chunk message longer than its plan");
  return rows;
}

FailedRowTally::FailedRowTally(bool skipping, int64_t rows, const FailedRowsLimit& limit) {
  rows_.skipping = skipping;
  rows_.limit = limit.For(rows);
  rows_.limit_text = limit.Text();
}

void FailedRowTally::Keep(FailedRow row) {
  auto& first = rows_.first;
  const auto at = std::lower_bound(first.begin(), first.end(), row.row,
                                   [](const FailedRow& r, int64_t value) { return r.row < value; });
  if (at != first.end() && at->row == row.row) {
    if (at->message.empty()) at->message = std::move(row.message);
    return;
  }
  if (first.size() >= FailedRows::kFailedRowsKept && at == first.end()) return;
  first.insert(at, std::move(row));
  if (first.size() > FailedRows::kFailedRowsKept) first.pop_back();
}

void FailedRowTally::Add(int64_t begin, const HostArray& flags, const std::vector<FailedRow>& messages) {
  AddFlags(begin, flags, "");
  Note(messages);
}

void FailedRowTally::AddRecorded(int64_t begin, const HostArray& flags) {
  AddFlags(begin, flags, kRecorded);
  Note({});
}

void FailedRowTally::AddFlags(int64_t begin, const HostArray& flags, const std::string& message) {
  before_ = rows_.count;
  for (int64_t i = 0; i < flags.rows(); ++i)
    if (flags.bytes[static_cast<size_t>(i)] != std::byte{0}) {
      ++rows_.count;
      Keep({begin + i, message});
    }
}

void FailedRowTally::Note(const std::vector<FailedRow>& messages) {
  const int64_t before = before_;
  int64_t logged = before;
  for (const auto& m : messages) {
    Keep(m);
    if (logged++ < kRowsLogged)
      spdlog::warn("row {} failed; its outputs are filled and marked in '{}' (on_error: skip): {}", m.row,
                   kFailedDatasetName, m.message);
  }
  if (before <= kRowsLogged && rows_.count > kRowsLogged && !messages.empty())
    spdlog::warn("more rows failed: they are counted, not logged; the last line lists the first 10");
  if (rows_.limit && rows_.count > *rows_.limit) {
    const FailedRow& first = rows_.first.front();
    throw ModelError(std::to_string(rows_.count) + " rows failed, more than max_failed_rows: " + rows_.limit_text +
                     " allows (" + std::to_string(*rows_.limit) + " rows); the first, row " +
                     std::to_string(first.row) + ": " + MessageOf(first) + "; fix those rows or raise max_failed_rows");
  }
}

std::string FailedRowsLine(const FailedRows& rows, size_t shown) {
  std::string line = std::to_string(rows.count) + (rows.count == 1 ? " row" : " rows") +
                     " failed and were filled (on_error: skip, max_failed_rows: " + rows.limit_text + ")";
  if (rows.first.empty()) return line;
  line += "; marked 1 in the output's '" + std::string(kFailedDatasetName) + "' dataset: row";
  line += rows.count == 1 ? " " : "s ";
  const size_t n = std::min(shown, rows.first.size());
  for (size_t i = 0; i < n; ++i) line += (i ? ", " : "") + std::to_string(rows.first[i].row);
  if (static_cast<int64_t>(n) < rows.count) line += ", ...";
  const FailedRow& first = rows.first.front();
  return line + "; row " + std::to_string(first.row) + ": " + MessageOf(first);
}

void LogFailedRows(const FailedRows& rows) {
  const std::string line = FailedRowsLine(rows, 10);
  if (rows.count > 0) {
    spdlog::warn("{}", line);
  } else {
    spdlog::info("{}", line);
  }
}

}  // namespace mpsbatch
