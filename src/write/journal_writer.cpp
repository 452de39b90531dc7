#include "write/journal_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <system_error>
#include <utility>

#include "common/error.h"
#include "common/fault.h"

namespace mpsbatch {

JournalWriter::JournalWriter(std::string journal_path, std::string data_path)
    : journal_path_(std::move(journal_path)), data_path_(std::move(data_path)) {}

JournalWriter::~JournalWriter() { StopSyncing(); }

void JournalWriter::Open(const std::string& run_id, bool truncate) {
  const std::string& path = journal_path_;
  const size_t keep = truncate ? 0 : ReadJournal(path, run_id).valid_bytes;
  journal_fd_.Reset(open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (!journal_fd_) throw OutputError("cannot open " + path + ": " + std::strerror(errno));
  if (ftruncate(journal_fd_.get(), static_cast<off_t>(keep)) != 0)
    throw OutputError(path + ": cannot drop a torn record: " + std::strerror(errno));
  if (keep > 0) return;
  const std::string header = EncodeJournalHeader(run_id);
  if (write(journal_fd_.get(), header.data(), header.size()) != static_cast<ssize_t>(header.size()) ||
      fdatasync(journal_fd_.get()) != 0)
    throw OutputError(path + ": cannot write its header: " + std::strerror(errno));
}

void JournalWriter::StartSyncing(int data_fd) {
  MPSBATCH_ASSERT(!sync_thread_.joinable() && !sync_thread_.get_stop_source().stop_requested());
  data_fd_ = data_fd;
  try {
    sync_thread_ = std::jthread([this](std::stop_token stop) { SyncLoop(std::move(stop)); });
  } catch (const std::system_error& e) {
    throw OutputError(data_path_ + ": cannot start the thread that makes finished chunks durable: " + e.what());
  }
}

void JournalWriter::Add(const JournalRecord& record) {
  {
    std::lock_guard<std::mutex> lock(sync_mutex_);
    sync_waiting_.push_back(record);
    ++sync_added_;
  }
  sync_wake_.notify_one();
}

void JournalWriter::Sync() {
  {
    std::unique_lock<std::mutex> lock(sync_mutex_);
    sync_done_.wait(lock, [&] { return sync_ended_ || sync_recorded_ == sync_added_; });
  }
  ThrowIfFailed();
}

void JournalWriter::ThrowIfFailed() {
  std::lock_guard<std::mutex> lock(sync_mutex_);
  if (sync_error_.empty()) return;
  sync_error_thrown_ = true;
  throw OutputError(sync_error_);
}

void JournalWriter::SyncLoop(std::stop_token stop) noexcept {
  try {
    SyncPasses(std::move(stop));
  } catch (...) {
    std::string what = "an exception that is not a std::exception";
    try {
      throw;
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    std::lock_guard<std::mutex> lock(sync_mutex_);
    if (sync_error_.empty())
      sync_error_ = data_path_ + ": the thread that makes finished chunks durable failed: " + what;
    sync_ended_ = true;
    sync_done_.notify_all();
  }
}

void JournalWriter::SyncPasses(std::stop_token stop) {
  FaultPoint("sync-thread");
  std::unique_lock<std::mutex> lock(sync_mutex_);
  for (;;) {
    // Returns when records wait or a stop is asked for; a stop with records
    // waiting records them first.
    if (!sync_wake_.wait(lock, stop, [&] { return !sync_waiting_.empty(); })) return;
    std::vector<JournalRecord> records;
    records.swap(sync_waiting_);
    const bool failed_before = !sync_error_.empty();
    lock.unlock();
    const std::string error = failed_before ? "" : RecordDurably(records);
    lock.lock();
    if (!error.empty() && sync_error_.empty()) sync_error_ = error;
    sync_recorded_ += static_cast<int64_t>(records.size());
    sync_done_.notify_all();
  }
}

std::string JournalWriter::RecordDurably(const std::vector<JournalRecord>& records) noexcept {
  try {
    auto which = [&] {
      return "chunk " + std::to_string(records.front().chunk) +
             (records.size() > 1 ? " and " + std::to_string(records.size() - 1) + " more" : "");
    };
    auto text = [](int err) { return std::generic_category().message(err); };
    if (data_fd_ >= 0 && fdatasync(data_fd_) != 0) {
      const int err = errno;
      return data_path_ + ": flushing " + which() + " failed: " + text(err);
    }
    const std::string bytes = EncodeJournalRecords(records);
    const auto size = static_cast<ssize_t>(bytes.size());
    const ssize_t n = write(journal_fd_.get(), bytes.data(), bytes.size());
    const int err = errno;
    if (n != size)
      return journal_path_ + ": recording " + which() + " failed: " + (n < 0 ? text(err) : "a short write");
    if (fdatasync(journal_fd_.get()) != 0) {
      const int sync_err = errno;
      return journal_path_ + ": recording " + which() + " failed: " + text(sync_err);
    }
    return "";
  } catch (...) {  // out of memory for a message: still a failure, never a terminate
    return data_path_ + ": recording finished chunks failed";
  }
}

std::string JournalWriter::StopSyncing() noexcept {
  if (sync_thread_.joinable()) {
    sync_thread_.request_stop();
    sync_thread_.join();
  }
  std::lock_guard<std::mutex> lock(sync_mutex_);
  return sync_error_thrown_ ? "" : sync_error_;
}

}  // namespace mpsbatch
