// The journal of finished chunks beside a partial output file
// (output.path.partial.chunks), and the checks a --resume makes of it.
//
// A journal belongs to one partial file: both carry the run id the run drew
// when it created them (the partial as its attribute `run_id`, the journal in
// its header), so a journal from another run, or one copied beside another
// partial file, is refused. Each record carries the CRC-32 of its own bytes,
// so a damaged record is refused, and the CRC-32 of the chunk's rows as
// written, which a resume compares with the rows the partial file holds
// (ResultWriter::CheckRecordedChunks): a journal that lists rows never
// written is refused. A crash mid-append leaves a torn tail (a record cut
// short, or whole records of zeros where the file grew before its data
// reached the disk); it is ignored, and its chunks are scored again.
//
// Format (integers little-endian):
//   header, 32 bytes: "MPSBJRN1", the run id (16 bytes), 4 bytes zero,
//                     CRC-32 of the 28 bytes before it
//   record, 16 bytes: chunk id (int64), CRC-32 of the chunk's rows (uint32),
//                     CRC-32 of the 12 bytes before it
// Records start at byte 32 and are 16 bytes, so they never straddle a
// 512-byte sector: a torn write leaves whole records, or zeros.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace mpsbatch {

struct JournalRecord {
  int64_t chunk = 0;
  uint32_t rows_crc = 0;  // CRC-32 of the chunk's rows, outputs in order
};

// zlib's CRC-32 of `bytes` bytes at `data`, continuing from `crc`.
uint32_t Crc32(const void* data, size_t bytes, uint32_t crc = 0);

// A fresh run id: 32 hex digits from the operating system's random source.
std::string NewRunId();

// The bytes of a header for `run_id` (32 hex digits), and of records.
std::string EncodeJournalHeader(const std::string& run_id);
std::string EncodeJournalRecords(const std::vector<JournalRecord>& records);

struct JournalContents {
  std::vector<JournalRecord> records;  // in the order written
  size_t valid_bytes = 0;              // the header and the whole records before a torn tail; 0: no header
};

// Reads the journal at `path`, which must belong to the run `run_id`. A
// missing or empty journal, or one whose header was torn, lists nothing.
// Throws OutputError, naming the journal and saying how to start over, when
// its header names another run or is damaged, or a record before the torn
// tail fails its checksum.
JournalContents ReadJournal(const std::string& path, const std::string& run_id);

// How many whole records the journal at `path` holds, by its size alone (0
// when there is none): what a stopped run reports as saved.
int64_t JournalRecordsBySize(const std::string& path);

// The refusal's tail: how to start over.
std::string StartOverAdvice();

}  // namespace mpsbatch
