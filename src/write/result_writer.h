// Writes the results: one chunked dataset per model output in a file that
// carries a temporary name until Commit() renames it into place, so a failed
// run never leaves a file that looks complete (write/partial_file.h). Rows may
// arrive in any order; the caller (rank 0's loop) guarantees each row range is
// written once.
//
// Resume: every chunk marked done is on disk (flushed and fsync'ed) before its
// id is appended, fsync'ed, to a journal beside the partial file, by a thread
// of the journal's own (write/journal_writer.h). The datasets' storage is
// allocated when they are created and the file flushed, so writing rows
// afterwards changes no HDF5 metadata (and, with no chunk cache, rows go
// straight to the file): a process killed at any moment leaves a
// partial file that opens, and a journal that lists only chunks whose rows are
// in it. The partial file also records the run's identity (ResumeIdentity)
// and chunk size, which a resume must match.
//
// ResultWriter is the one class the run uses for all of it: the HDF5 writing
// is here, the journal and the commit's file steps behind it; this header also
// brings the partial file's names and checks (ReadPartial, CheckOutputPath).
// Not thread-safe (see hdf5/handle.h): one thread calls its methods.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/output_spec.h"
#include "hdf5/handle.h"
#include "write/chunk_sink.h"
#include "write/journal.h"
#include "write/journal_writer.h"
#include "write/partial_file.h"

namespace mpsbatch {

class ResultWriter : public ChunkSink {
 public:
  // Creates PartialPath(final_path) and an empty journal, replacing any
  // earlier ones; records `identity`, `chunk_rows` and a new run id (in the
  // journal's header too) in the file. Throws OutputError naming the path.
  ResultWriter(const std::string& final_path, const std::vector<OutputSpec>& outputs, int64_t rows,
               const std::string& identity = "", int64_t chunk_rows = 1);
  // Reopens the partial file an earlier run left (see ReadPartial) to write
  // the chunks it lacks, and its journal to append to (a torn tail cut off).
  // Throws OutputError if its datasets do not match.
  static std::unique_ptr<ResultWriter> Reopen(const std::string& final_path, const std::vector<OutputSpec>& outputs,
                                              int64_t rows);
  // A created file not committed is removed, with its journal, unless
  // KeepForResume() was called; a reopened one is always kept. Waits first
  // for the syncing thread to record the chunks marked done (on a hung
  // filesystem, as long as its fsync hangs); a failure it meets then is
  // dropped: call StopSyncing() first to hear of it.
  ~ResultWriter() override;

  // Writes `count` rows of output `index` starting at row `begin`.
  void WriteRows(size_t index, int64_t begin, int64_t count, const std::byte* data) override;
  // Reads `count` rows of output `index` from row `begin` into `data`
  // (rows as the file stores them). Throws OutputError.
  void ReadRows(size_t index, int64_t begin, int64_t count, std::byte* data) override;
  // Throws OutputError, naming the first chunk and saying how to start
  // over, unless the rows of each recorded chunk in the file have the
  // checksum the record holds. For a reopened file, before writing.
  void CheckRecordedChunks(const std::vector<JournalRecord>& records);
  // Where chunk `id`'s rows lie: [first, last) of the output. Without a call,
  // chunk_rows rows from id * chunk_rows (one input file); with several
  // input files a chunk ends at its file's end (plan/chunk_plan.h). Before
  // CheckRecordedChunks and MarkChunkDone.
  void SetChunkRows(std::function<std::pair<int64_t, int64_t>(int64_t id)> rows_of) { rows_of_ = std::move(rows_of); }
  // Flushes chunk `id`'s rows (see SetChunkRows) to the
  // file; the syncing thread then makes them durable (fsync) and records the
  // id, with the checksum of those rows as the file holds them, in the
  // journal. Throws OutputError if
  // an earlier chunk could not be made durable or recorded, or the syncing
  // thread cannot start. Not after StopSyncing() or Commit().
  void MarkChunkDone(int64_t id) override;
  // Waits until every chunk marked done so far is durable and in the journal;
  // throws OutputError as MarkChunkDone does.
  void Sync();
  // Records the chunks marked done (as Sync) and ends the syncing thread.
  // Returns the failure that stopped the recording, if one did and no call
  // has thrown it yet ("" otherwise). For a failing run, before it keeps the
  // files for a --resume.
  std::string StopSyncing() noexcept;
  // Replace an attribute of the same name, if any.
  void SetAttribute(const std::string& name, const std::string& value);
  void SetAttribute(const std::string& name, int64_t value);
  void SetAttribute(const std::string& name, double value);
  // Flushes HDF5's caches to the file (after the header attributes, so that
  // all metadata is on disk before rows are written).
  void Flush();
  // Leave the partial file and journal behind for a later --resume.
  void KeepForResume() { keep_ = true; }

  // Records the chunks marked done and ends the syncing thread, then closes
  // the file and moves it to final_path: replacing an existing file only if
  // `overwrite`, otherwise failing (and leaving that file untouched), and
  // fsyncs the folder so that the rename survives a power loss. Throws
  // OutputError for a chunk that could not be made durable or recorded, or
  // for a failed folder fsync (the file is in place then).
  void Commit(bool overwrite);
  // Commit() in two steps, for a caller with something to do between them:
  // Seal() records the chunks, ends the syncing thread and closes the file;
  // Publish() moves it to final_path. Both throw as Commit() does.
  void Seal();
  void Publish(bool overwrite);

  const std::string& partial_path() const { return partial_path_; }

 private:
  ResultWriter(const std::string& final_path, const std::vector<OutputSpec>& outputs);
  void CreateDatasets(int64_t rows);
  void OpenDatasets(int64_t rows);
  // The file and memory dataspaces of rows [begin, begin + count) of output
  // `index`.
  std::pair<H5Handle, H5Handle> RowSpaces(size_t index, int64_t begin, int64_t count);
  // The rows of chunk `id` (SetChunkRows).
  std::pair<int64_t, int64_t> ChunkRows(int64_t id) const;
  // CRC-32 of chunk `id`'s rows as the file holds them, outputs in order.
  uint32_t ChunkChecksum(int64_t id);
  // The same CRC-32, taken from the rows as WriteRows wrote them (in the
  // type the file stores, so the same bytes): a chunk written whole, output
  // after output, needs no read back in MarkChunkDone.
  struct WrittenChunk {
    int64_t rows = 0;    // from the first row, its key
    size_t outputs = 0;  // outputs written so far, in order
    uint32_t crc = 0;
  };
  std::unordered_map<int64_t, WrittenChunk> written_;  // by first row
  std::function<std::pair<int64_t, int64_t>(int64_t)> rows_of_;
  // Deletes attribute `name` if the file has it (SetAttribute writes anew).
  void ReplaceAttribute(const std::string& name);

  std::string final_path_;
  std::string partial_path_;
  std::vector<OutputSpec> outputs_;
  H5Handle file_;
  std::vector<H5Handle> datasets_;
  int64_t rows_ = 0;
  int64_t chunk_rows_ = 1;
  std::string run_id_;  // binds the journal to this file (write/journal.h)
  JournalWriter journal_;
  bool committed_ = false;
  bool keep_ = false;
};

}  // namespace mpsbatch
