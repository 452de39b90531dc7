// Writes the results: one chunked dataset per model output in a file that
// carries a temporary name until Commit() renames it into place, so a failed
// run never leaves a file that looks complete. Rows may arrive in any order;
// the caller (rank 0's loop) guarantees each row range is written once.
//
// Resume: every chunk marked done is on disk (flushed and fsync'ed) before its
// id is appended, fsync'ed, to a journal beside the partial file. The fsyncs
// run on a thread of their own, one pair for all the chunks marked done while
// the last pair ran: with small chunks (256 rows of images are one batch) and
// a slow disk or a network filesystem, an fsync pair per chunk on rank 0's
// loop would hold up the whole job. A crash loses the records of the chunks
// marked done since the last completed pair began (the pair under way and
// those waiting): a resume scores them again. The
// datasets' storage is allocated when they are created and the file flushed,
// so writing rows afterwards changes no HDF5 metadata: a process killed at any
// moment leaves a partial file that opens, and a journal that lists only
// chunks whose rows are in it. The partial file also records the run's
// identity (ResumeIdentity) and chunk size, which a resume must match.
// Not thread-safe (see hdf5/handle.h): one thread calls its methods; its
// own thread touches only file descriptors, never HDF5.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/dtype.h"
#include "hdf5/handle.h"
#include "plan/output_spec.h"
#include "write/journal.h"

namespace mpsbatch {

// The name a run writes under before it renames to `final_path`.
std::string PartialPath(const std::string& final_path);
// The journal of done chunks beside it (write/journal.h).
std::string JournalPath(const std::string& final_path);

// What an earlier run left for a resume.
struct PartialState {
  std::string identity;                // as recorded when the file was created
  int64_t chunk_rows = 0;              // the chunk size the run used
  std::vector<int64_t> done;           // chunk ids recorded done, each once
  std::vector<JournalRecord> records;  // the journal's records, as written
};

// The state of PartialPath(final_path), or nullopt if there is no partial
// file. Throws OutputError if it exists but cannot be read as one, or its
// journal is not its own or is damaged (see ReadJournal).
std::optional<PartialState> ReadPartial(const std::string& final_path);

// Throws OutputError if `final_path` exists and `overwrite` is false, or its
// folder is missing or not writable. Touches nothing.
void CheckOutputPath(const std::string& final_path, bool overwrite);

class ResultWriter {
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
  ~ResultWriter();

  // Writes `count` rows of output `index` starting at row `begin`.
  void WriteRows(size_t index, int64_t begin, int64_t count, const std::byte* data);
  // Throws OutputError, naming the first chunk and saying how to start
  // over, unless the rows of each recorded chunk in the file have the
  // checksum the record holds. For a reopened file, before writing.
  void CheckRecordedChunks(const std::vector<JournalRecord>& records);
  // Flushes chunk `id`'s rows (chunk_rows rows from id * chunk_rows) to the
  // file; the syncing thread then makes them durable (fsync) and records the
  // id, with the checksum of those rows as the file holds them, in the
  // journal. Throws OutputError if
  // an earlier chunk could not be made durable or recorded, or the syncing
  // thread cannot start. Not after StopSyncing() or Commit().
  void MarkChunkDone(int64_t id);
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
  void OpenJournal(bool truncate);
  // The file and memory dataspaces of rows [begin, begin + count) of output
  // `index`.
  std::pair<H5Handle, H5Handle> RowSpaces(size_t index, int64_t begin, int64_t count);
  // CRC-32 of chunk `id`'s rows as the file holds them, outputs in order.
  uint32_t ChunkChecksum(int64_t id);
  void RemoveFiles();
  // Deletes attribute `name` if the file has it (SetAttribute writes anew).
  void ReplaceAttribute(const std::string& name);
  // The syncing thread: fsyncs the file, appends the ids marked done before
  // the fsync to the journal, fsyncs it; again while ids wait.
  // Anything it throws becomes sync_error_ (never std::terminate).
  void SyncLoop() noexcept;
  void SyncPasses();
  // One pass of it over `records`: "" or what failed.
  std::string RecordDurably(const std::vector<JournalRecord>& records) noexcept;
  void ThrowIfSyncFailed();  // under no lock

  std::string final_path_;
  std::string partial_path_;
  std::vector<OutputSpec> outputs_;
  H5Handle file_;
  std::vector<H5Handle> datasets_;
  int64_t rows_ = 0;
  int64_t chunk_rows_ = 1;
  std::string run_id_;  // binds the journal to this file (write/journal.h)
  int journal_fd_ = -1;
  bool committed_ = false;
  bool keep_ = false;

  // Shared with the syncing thread, under sync_mutex_.
  std::mutex sync_mutex_;
  std::condition_variable sync_wake_;        // ids wait, or stop
  std::condition_variable sync_done_;        // a pass ended
  std::vector<JournalRecord> sync_waiting_;  // chunks marked done, not yet in a pass
  int64_t sync_marked_ = 0;                  // ids marked done so far
  int64_t sync_recorded_ = 0;                // of those, passed through a pass (recorded, or failed)
  std::string sync_error_;                   // the first failure; no pass runs after it
  bool sync_error_thrown_ = false;           // a call has thrown it
  bool sync_stop_ = false;
  bool sync_ended_ = false;  // the thread ended on a failure: nothing more is recorded
  int data_fd_ = -1;         // the file's descriptor (sec2 driver), or -1
  std::thread sync_thread_;
};

}  // namespace mpsbatch
