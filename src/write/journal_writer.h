// Appends finished chunks to the journal beside a partial file
// (write/journal.h has the format), durably: the partial file's rows are
// fsync'ed before a record of them is written, and the journal is fsync'ed
// after. The fsyncs run on a thread of its own, one pair for all the chunks
// added while the last pair ran: with small chunks (256 rows of images are
// one batch) and a slow disk or a network filesystem, an fsync pair per chunk
// on rank 0's loop would hold up the whole job. A crash loses the records of
// the chunks added since the last completed pair began (the pair under way
// and those waiting): a resume scores them again.
// One thread calls its methods (ResultWriter's); its own thread touches only
// file descriptors, never HDF5.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "common/unique_fd.h"
#include "write/journal.h"

namespace mpsbatch {

class JournalWriter {
 public:
  // A writer of the journal at `journal_path` for the partial file at
  // `data_path` (both named in its messages); opens nothing yet.
  JournalWriter(std::string journal_path, std::string data_path);
  // Waits for the syncing thread as StopSyncing() does; a failure it meets
  // then is dropped.
  ~JournalWriter();
  JournalWriter(const JournalWriter&) = delete;
  JournalWriter& operator=(const JournalWriter&) = delete;

  // Opens the journal of the run `run_id` to append to: emptied when
  // `truncate` (a new run), else with a torn tail cut off (ReadJournal ignores
  // it, and it would hide every record appended after it). A journal left
  // without a header is started afresh, durably, before any record can follow
  // it. Throws OutputError naming the journal.
  void Open(const std::string& run_id, bool truncate);

  // Whether the syncing thread has been started (and not yet stopped).
  bool syncing() const { return sync_thread_.joinable(); }
  // Starts the syncing thread, which fsyncs `data_fd` (the partial file's
  // descriptor, owned by HDF5; -1: none to fsync) before each pass. Throws
  // OutputError if the thread cannot start. Once, and not after StopSyncing().
  void StartSyncing(int data_fd);
  // Queues `record` for the syncing thread's next pass. Its rows must be in
  // the partial file (flushed to the operating system) already.
  void Add(const JournalRecord& record);
  // Waits until every record added so far is durable in the journal (or its
  // pass failed); throws OutputError as ThrowIfFailed does.
  void Sync();
  // Throws OutputError with the first failure of the syncing thread, if any.
  void ThrowIfFailed();
  // Records what was added (as Sync) and ends the syncing thread. Returns the
  // failure that stopped the recording, if one did and no call has thrown it
  // yet ("" otherwise).
  std::string StopSyncing() noexcept;
  // Closes the journal's descriptor (after StopSyncing()).
  void Close() { journal_fd_.Reset(); }

 private:
  // The syncing thread: fsyncs the file, appends the records added before the
  // fsync to the journal, fsyncs it; again while records wait, until `stop`.
  // Anything it throws becomes sync_error_ (never std::terminate).
  void SyncLoop(std::stop_token stop) noexcept;
  void SyncPasses(std::stop_token stop);
  // One pass of it over `records`: "" or what failed.
  std::string RecordDurably(const std::vector<JournalRecord>& records) noexcept;

  const std::string journal_path_;
  const std::string data_path_;
  UniqueFd journal_fd_;
  int data_fd_ = -1;  // the partial file's descriptor (HDF5's), or -1

  // Shared with the syncing thread, under sync_mutex_.
  std::mutex sync_mutex_;
  std::condition_variable_any sync_wake_;    // records wait, or stop
  std::condition_variable sync_done_;        // a pass ended
  std::vector<JournalRecord> sync_waiting_;  // records added, not yet in a pass
  int64_t sync_added_ = 0;                   // records added so far
  int64_t sync_recorded_ = 0;                // of those, passed through a pass (recorded, or failed)
  std::string sync_error_;                   // the first failure; no pass runs after it
  bool sync_error_thrown_ = false;           // a call has thrown it
  bool sync_ended_ = false;                  // the thread ended on a failure: nothing more is recorded
  std::jthread sync_thread_;                 // last: stopped and joined before the members it uses go
};

}  // namespace mpsbatch
