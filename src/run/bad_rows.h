// Rows that failed under on_error: skip (run/row_isolation.h finds them):
// what they are filled with, the `failed` dataset that marks them, how their
// messages travel to rank 0 beside a chunk's outputs, and rank 0's tally,
// which logs the first few and ends the job once max_failed_rows is passed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/buffer.h"
#include "common/dtype.h"
#include "common/output_spec.h"
#include "config/job.h"

namespace mpsbatch {

// One failed row: its row in the input, and the first error it met alone.
struct FailedRow {
  int64_t row = 0;
  std::string message;
};

// What rank 0 knows of the failed rows when scoring ends: the count, the
// limit it was held to, and the lowest rows with their messages (up to
// kFailedRowsKept; rows an earlier run recorded carry no message). For the
// summary and for a report of the run.
struct FailedRows {
  static constexpr size_t kFailedRowsKept = 100;
  bool skipping = false;  // on_error: skip
  int64_t count = 0;
  std::optional<int64_t> limit;  // max_failed_rows for this job's rows; nullopt: none
  std::string limit_text;        // as the job file spells it: "none", "12", "0.1%"
  std::vector<FailedRow> first;  // by row
};

// True for a failure of the device rather than of a row: the CUDA context or
// the allocator is gone (CUDA errors, out of memory, device-side asserts),
// and whatever runs next on it fails too. Those end the job as under
// on_error: fail.
bool IsDeviceFailure(const std::string& message);

// The stored outputs: `outputs`, and under on_error: skip the `failed`
// dataset after them (uint8 per row, 1 for a failed row).
std::vector<OutputSpec> StoredOutputs(const std::vector<OutputSpec>& outputs, OnError on_error);

// Overwrites row `row` of `a` with the fill value: NaN for floating types,
// 0 for integers.
void FillRow(HostArray& a, int64_t row);

// The messages of a chunk's failed rows on the wire, after its arrays; at
// most kMessagesPerChunk rows, each message cut to 1000 bytes.
inline constexpr size_t kMessagesPerChunk = 16;
std::string EncodeFailedRows(const std::vector<FailedRow>& rows);
// Throws CommError for bytes that are not what EncodeFailedRows makes.
std::vector<FailedRow> DecodeFailedRows(const std::byte* data, size_t size);

// Rank 0's count of the failed rows. Not thread-safe; rank 0's main thread.
class FailedRowTally {
 public:
  FailedRowTally(bool skipping, int64_t rows, const FailedRowsLimit& limit);

  // Adds the rows a chunk of rows from `begin` marks in `flags` (the failed
  // dataset's rows), with the messages of some; logs the first few. Throws
  // ModelError once more rows failed than max_failed_rows allows.
  void Add(int64_t begin, const HostArray& flags, const std::vector<FailedRow>& messages);
  // The same for rows an earlier run recorded (a resume): no messages.
  void AddRecorded(int64_t begin, const HostArray& flags);

  const FailedRows& rows() const { return rows_; }

 private:
  void Keep(FailedRow row);
  // Counts the rows `flags` marks, kept with `message`; then Note logs the
  // messages and checks the limit.
  void AddFlags(int64_t begin, const HostArray& flags, const std::string& message);
  void Note(const std::vector<FailedRow>& messages);

  FailedRows rows_;
  int64_t before_ = 0;  // the count before the chunk being added
};

// "3 rows failed and were filled (on_error: skip, max_failed_rows: none):
// row 17: forward failed ...; row 40: ...". For the end of the job.
std::string FailedRowsLine(const FailedRows& rows, size_t shown);
// Logs FailedRowsLine with the first 10 rows: the job's last line.
void LogFailedRows(const FailedRows& rows);

}  // namespace mpsbatch
