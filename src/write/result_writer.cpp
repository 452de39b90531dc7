#include "write/result_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <system_error>
#include <thread>

#include "common/error.h"
#include "common/fault.h"
#include "hdf5/types.h"

namespace fs = std::filesystem;

namespace mpsbatch {

std::string PartialPath(const std::string& final_path) { return final_path + ".partial"; }

std::string JournalPath(const std::string& final_path) { return PartialPath(final_path) + ".chunks"; }

namespace {

constexpr const char* kIdentityAttribute = "resume_identity";
constexpr const char* kChunkRowsAttribute = "chunk_rows";
constexpr const char* kRunIdAttribute = "run_id";

// Makes the names in the folder of `path` durable (a rename or link in it is
// only in the folder's cache until then): "" or what failed.
std::string SyncFolderOf(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  const std::string dir = parent.empty() ? "." : parent.string();
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return "cannot open folder " + dir + " to sync it: " + std::strerror(errno);
  const int rc = fsync(fd);
  const int err = errno;
  close(fd);
  return rc == 0 ? "" : "syncing folder " + dir + " failed: " + std::strerror(err);
}

}  // namespace

std::optional<PartialState> ReadPartial(const std::string& final_path) {
  const std::string partial = PartialPath(final_path);
  if (!fs::exists(partial)) return std::nullopt;
  H5Handle file(H5Fopen(partial.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file.valid())
    throw OutputError("cannot resume from " + partial + ": " + Hdf5Message() + "; " + StartOverAdvice());
  PartialState state;
  auto identity = ReadStringAttribute(file.get(), kIdentityAttribute);
  auto chunk_rows = ReadIntAttribute(file.get(), kChunkRowsAttribute);
  auto run_id = ReadStringAttribute(file.get(), kRunIdAttribute);
  if (!identity || !chunk_rows || *chunk_rows < 1 || !run_id)
    throw OutputError("cannot resume from " + partial + ": it does not record the run that wrote it (or an older " +
                      "mpsbatch wrote it); " + StartOverAdvice());
  state.identity = *identity;
  state.chunk_rows = *chunk_rows;
  // A tail torn by a crash is ignored: its chunks are scored again.
  state.records = ReadJournal(JournalPath(final_path), *run_id).records;
  for (const auto& r : state.records) state.done.push_back(r.chunk);
  std::sort(state.done.begin(), state.done.end());
  state.done.erase(std::unique(state.done.begin(), state.done.end()), state.done.end());
  return state;
}

void CheckOutputPath(const std::string& final_path, bool overwrite) {
  const fs::path p(final_path);
  if (fs::exists(p) && !overwrite)
    throw OutputError("output.path '" + final_path + "' exists; set output.overwrite: true to replace it");
  if (fs::is_directory(p)) throw OutputError("output.path '" + final_path + "' is a folder");
  const fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  if (!fs::is_directory(dir))
    throw OutputError("output.path '" + final_path + "': folder " + dir.string() + " does not exist");
  // Create and remove a file rather than ask access(): root passes access()
  // on folders where nothing can be created (sysfs, some read-only mounts).
  std::string probe = (dir / ".mpsbatch-probe-XXXXXX").string();
  const int fd = mkstemp(probe.data());
  if (fd < 0) {
    const int err = errno;
    const bool denied = err == EACCES || err == EPERM || err == EROFS;
    throw OutputError("output.path '" + final_path + "': " +
                      (denied ? "folder " + dir.string() + " is not writable: "
                              : "cannot create a file in folder " + dir.string() + ": ") +
                      std::strerror(err) +
                      (err == EMFILE ? " (this process's limit of open files: raise it with ulimit -n)" : ""));
  }
  close(fd);
  unlink(probe.c_str());
}

ResultWriter::ResultWriter(const std::string& final_path, const std::vector<OutputSpec>& outputs)
    : final_path_(final_path), partial_path_(PartialPath(final_path)), outputs_(outputs) {}

ResultWriter::ResultWriter(const std::string& final_path, const std::vector<OutputSpec>& outputs, int64_t rows,
                           const std::string& identity, int64_t chunk_rows)
    : ResultWriter(final_path, outputs) {
  rows_ = rows;
  chunk_rows_ = chunk_rows;
  run_id_ = NewRunId();
  // Until the file is ours, a throw must not remove anything: the files at
  // these paths may be another run's (HDF5's lock makes H5Fcreate fail then).
  // The destructor runs on a throw here, as the delegated constructor is done.
  keep_ = true;
  file_ = H5Handle(H5Fcreate(partial_path_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
  if (!file_.valid()) throw OutputError("cannot create " + partial_path_ + ": " + Hdf5Message());
  try {
    // An old journal must never describe this new file, so empty it (durably)
    // before the file records an identity a resume could match.
    OpenJournal(/*truncate=*/true);
    CreateDatasets(rows);
    SetAttribute(kRunIdAttribute, run_id_);
    SetAttribute(kIdentityAttribute, identity);
    SetAttribute(kChunkRowsAttribute, chunk_rows);
  } catch (...) {
    datasets_.clear();
    file_.Close();
    RemoveFiles();
    throw;
  }
  keep_ = false;
}

std::unique_ptr<ResultWriter> ResultWriter::Reopen(const std::string& final_path,
                                                   const std::vector<OutputSpec>& outputs, int64_t rows) {
  std::unique_ptr<ResultWriter> w(new ResultWriter(final_path, outputs));
  w->keep_ = true;
  w->file_ = H5Handle(H5Fopen(w->partial_path_.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose);
  if (!w->file_.valid()) throw OutputError("cannot reopen " + w->partial_path_ + ": " + Hdf5Message());
  auto run_id = ReadStringAttribute(w->file_.get(), kRunIdAttribute);
  auto chunk_rows = ReadIntAttribute(w->file_.get(), kChunkRowsAttribute);
  if (!run_id || !chunk_rows || *chunk_rows < 1)
    throw OutputError("cannot resume from " + w->partial_path_ + ": it does not record the run that wrote it; " +
                      StartOverAdvice());
  w->run_id_ = *run_id;
  w->chunk_rows_ = *chunk_rows;
  w->rows_ = rows;
  w->OpenDatasets(rows);
  w->OpenJournal(/*truncate=*/false);
  return w;
}

void ResultWriter::OpenJournal(bool truncate) {
  const std::string path = JournalPath(final_path_);
  // A torn tail (ReadJournal ignores it) would hide every record appended
  // after it: cut it off first. No header (a new run, or none survived):
  // start the journal afresh, durably, before any record can follow it.
  const size_t keep = truncate ? 0 : ReadJournal(path, run_id_).valid_bytes;
  journal_fd_ = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (journal_fd_ < 0) throw OutputError("cannot open " + path + ": " + std::strerror(errno));
  if (ftruncate(journal_fd_, static_cast<off_t>(keep)) != 0)
    throw OutputError(path + ": cannot drop a torn record: " + std::strerror(errno));
  if (keep > 0) return;
  const std::string header = EncodeJournalHeader(run_id_);
  if (write(journal_fd_, header.data(), header.size()) != static_cast<ssize_t>(header.size()) ||
      fdatasync(journal_fd_) != 0)
    throw OutputError(path + ": cannot write its header: " + std::strerror(errno));
}

std::pair<H5Handle, H5Handle> ResultWriter::RowSpaces(size_t index, int64_t begin, int64_t count) {
  const auto& out = outputs_[index];
  H5Handle file_space(H5Dget_space(datasets_[index].get()), H5Sclose);
  std::vector<hsize_t> start(out.row_shape.size() + 1, 0), extent{static_cast<hsize_t>(count)};
  for (int64_t d : out.row_shape) extent.push_back(static_cast<hsize_t>(d));
  start[0] = static_cast<hsize_t>(begin);
  H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, extent.data(), nullptr);
  H5Handle mem_space(H5Screate_simple(static_cast<int>(extent.size()), extent.data(), nullptr), H5Sclose);
  return {std::move(file_space), std::move(mem_space)};
}

uint32_t ResultWriter::ChunkChecksum(int64_t id) {
  const int64_t begin = std::min(id * chunk_rows_, rows_), end = std::min(begin + chunk_rows_, rows_);
  uint32_t crc = 0;
  std::vector<std::byte> rows;
  for (size_t i = 0; i < outputs_.size(); ++i) {
    const auto& out = outputs_[i];
    rows.resize(static_cast<size_t>(end - begin) * out.row_bytes());
    if (rows.empty()) continue;
    auto [file_space, mem_space] = RowSpaces(i, begin, end - begin);
    if (H5Dread(datasets_[i].get(), NativeH5Type(out.dtype), mem_space.get(), file_space.get(), H5P_DEFAULT,
                rows.data()) < 0)
      throw OutputError(partial_path_ + ": reading back rows " + std::to_string(begin) + ".." + std::to_string(end) +
                        " of '" + out.name + "' failed: " + Hdf5Message());
    crc = Crc32(rows.data(), rows.size(), crc);
  }
  return crc;
}

void ResultWriter::CheckRecordedChunks(const std::vector<JournalRecord>& records) {
  for (const auto& r : records)
    if (ChunkChecksum(r.chunk) != r.rows_crc)
      throw OutputError("cannot resume: " + JournalPath(final_path_) + " records chunk " + std::to_string(r.chunk) +
                        " as written, but its rows in " + partial_path_ + " are not the rows it recorded; " +
                        StartOverAdvice());
}

void ResultWriter::OpenDatasets(int64_t rows) {
  for (const auto& out : outputs_) {
    H5Handle ds(H5Dopen2(file_.get(), out.name.c_str(), H5P_DEFAULT), H5Dclose);
    if (!ds.valid()) throw OutputError(partial_path_ + ": has no dataset '" + out.name + "' to resume");
    H5Handle space(H5Dget_space(ds.get()), H5Sclose);
    const int ndims = space.valid() ? H5Sget_simple_extent_ndims(space.get()) : -1;
    std::vector<hsize_t> dims(static_cast<size_t>(std::max(0, ndims)));
    if (ndims < 0 || H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr) < 0)
      throw OutputError(partial_path_ + ": cannot read the dimensions of dataset '" + out.name + "': " + Hdf5Message());
    Shape want{rows};
    want.insert(want.end(), out.row_shape.begin(), out.row_shape.end());
    H5Handle type(H5Dget_type(ds.get()), H5Tclose);
    if (Shape(dims.begin(), dims.end()) != want || DTypeOfH5Type(type.get()) != out.dtype)
      throw OutputError(partial_path_ + ": dataset '" + out.name + "' is " + DescribeH5Type(type.get()) + " " +
                        ShapeString(Shape(dims.begin(), dims.end())) + ", this run writes " +
                        std::string(DTypeName(out.dtype)) + " " + ShapeString(want));
    datasets_.push_back(std::move(ds));
  }
}

void ResultWriter::RemoveFiles() {
  std::error_code ec;
  fs::remove(partial_path_, ec);
  fs::remove(JournalPath(final_path_), ec);
}

void ResultWriter::CreateDatasets(int64_t rows) {
  for (const auto& out : outputs_) {
    std::vector<hsize_t> dims{static_cast<hsize_t>(rows)};
    for (int64_t d : out.row_shape) dims.push_back(static_cast<hsize_t>(d));
    // About 1 MiB per HDF5 chunk: large enough for fast writes, small enough
    // that partial reads of the output stay cheap.
    std::vector<hsize_t> chunk = dims;
    const size_t row_bytes = std::max<size_t>(1, out.row_bytes());
    chunk[0] = std::clamp<hsize_t>((1u << 20) / row_bytes, 1, std::max<hsize_t>(1, dims[0]));
    H5Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
    H5Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    const auto fail = [&] {
      return OutputError(partial_path_ + ": cannot set up dataset '" + out.name + "': " + Hdf5Message());
    };
    if (!space.valid() || !dcpl.valid()) throw fail();
    if (out.row_bytes() > 0 && H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data()) < 0) throw fail();
    // All storage now, none of it filled: writing rows later touches no
    // metadata (see the header), and costs nothing up front.
    if (H5Pset_alloc_time(dcpl.get(), H5D_ALLOC_TIME_EARLY) < 0 ||
        H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER) < 0)
      throw fail();
    H5Handle ds(H5Dcreate2(file_.get(), out.name.c_str(), NativeH5Type(out.dtype), space.get(), H5P_DEFAULT, dcpl.get(),
                           H5P_DEFAULT),
                H5Dclose);
    if (!ds.valid()) throw OutputError(partial_path_ + ": cannot create dataset '" + out.name + "': " + Hdf5Message());
    datasets_.push_back(std::move(ds));
  }
}

ResultWriter::~ResultWriter() {
  StopSyncing();  // records what waits: a failed run keeps those chunks
  if (journal_fd_ >= 0) close(journal_fd_);
  if (committed_) return;
  datasets_.clear();
  file_.Close();
  if (!keep_) RemoveFiles();
}

void ResultWriter::MarkChunkDone(int64_t id) {
  ThrowIfSyncFailed();
  // The rows into the file (the operating system's cache); the syncing
  // thread's next fsync then covers them, and only after it does the journal
  // record the id.
  const uint32_t rows_crc = ChunkChecksum(id);
  if (H5Fflush(file_.get(), H5F_SCOPE_LOCAL) < 0)
    throw OutputError(partial_path_ + ": flushing chunk " + std::to_string(id) + " failed: " + Hdf5Message());
  if (!sync_thread_.joinable()) {
    MPSBATCH_ASSERT(!sync_stop_);
    data_fd_ = Sec2DescriptorOf(file_.get());
    try {
      sync_thread_ = std::thread([this] { SyncLoop(); });
    } catch (const std::system_error& e) {
      throw OutputError(partial_path_ + ": cannot start the thread that makes finished chunks durable: " + e.what());
    }
  }
  {
    std::lock_guard<std::mutex> lock(sync_mutex_);
    sync_waiting_.push_back({id, rows_crc});
    ++sync_marked_;
  }
  sync_wake_.notify_one();
}

void ResultWriter::Sync() {
  {
    std::unique_lock<std::mutex> lock(sync_mutex_);
    sync_done_.wait(lock, [&] { return sync_ended_ || sync_recorded_ == sync_marked_; });
  }
  ThrowIfSyncFailed();
}

void ResultWriter::ThrowIfSyncFailed() {
  std::lock_guard<std::mutex> lock(sync_mutex_);
  if (sync_error_.empty()) return;
  sync_error_thrown_ = true;
  throw OutputError(sync_error_);
}

void ResultWriter::SyncLoop() noexcept {
  try {
    SyncPasses();
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
      sync_error_ = partial_path_ + ": the thread that makes finished chunks durable failed: " + what;
    sync_ended_ = true;
    sync_done_.notify_all();
  }
}

void ResultWriter::SyncPasses() {
  FaultPoint("sync-thread");
  std::unique_lock<std::mutex> lock(sync_mutex_);
  for (;;) {
    sync_wake_.wait(lock, [&] { return sync_stop_ || !sync_waiting_.empty(); });
    if (sync_waiting_.empty()) return;  // told to stop, and nothing waits
    std::vector<JournalRecord> ids;
    ids.swap(sync_waiting_);
    const bool failed_before = !sync_error_.empty();
    lock.unlock();
    const std::string error = failed_before ? "" : RecordDurably(ids);
    lock.lock();
    if (!error.empty() && sync_error_.empty()) sync_error_ = error;
    sync_recorded_ += static_cast<int64_t>(ids.size());
    sync_done_.notify_all();
  }
}

std::string ResultWriter::RecordDurably(const std::vector<JournalRecord>& ids) noexcept {
  try {
    auto which = [&] {
      return "chunk " + std::to_string(ids.front().chunk) +
             (ids.size() > 1 ? " and " + std::to_string(ids.size() - 1) + " more" : "");
    };
    auto text = [](int err) { return std::generic_category().message(err); };
    if (data_fd_ >= 0 && fdatasync(data_fd_) != 0) {
      const int err = errno;
      return partial_path_ + ": flushing " + which() + " failed: " + text(err);
    }
    const std::string records = EncodeJournalRecords(ids);
    const auto bytes = static_cast<ssize_t>(records.size());
    const ssize_t n = write(journal_fd_, records.data(), records.size());
    const int err = errno;
    if (n != bytes)
      return JournalPath(final_path_) + ": recording " + which() + " failed: " + (n < 0 ? text(err) : "a short write");
    if (fdatasync(journal_fd_) != 0) {
      const int sync_err = errno;
      return JournalPath(final_path_) + ": recording " + which() + " failed: " + text(sync_err);
    }
    return "";
  } catch (...) {  // out of memory for a message: still a failure, never a terminate
    return partial_path_ + ": recording finished chunks failed";
  }
}

std::string ResultWriter::StopSyncing() noexcept {
  if (sync_thread_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(sync_mutex_);
      sync_stop_ = true;
    }
    sync_wake_.notify_one();
    sync_thread_.join();
  }
  std::lock_guard<std::mutex> lock(sync_mutex_);
  return sync_error_thrown_ ? "" : sync_error_;
}

void ResultWriter::Flush() {
  if (H5Fflush(file_.get(), H5F_SCOPE_LOCAL) < 0)
    throw OutputError(partial_path_ + ": flushing the file failed: " + Hdf5Message());
}

void ResultWriter::WriteRows(size_t index, int64_t begin, int64_t count, const std::byte* data) {
  MPSBATCH_ASSERT(index < outputs_.size());
  if (count == 0) return;
  const auto& out = outputs_[index];
  hid_t ds = datasets_[index].get();
  auto [file_space, mem_space] = RowSpaces(index, begin, count);
  if (H5Dwrite(ds, NativeH5Type(out.dtype), mem_space.get(), file_space.get(), H5P_DEFAULT, data) < 0)
    throw OutputError(partial_path_ + ": writing rows " + std::to_string(begin) + ".." + std::to_string(begin + count) +
                      " of '" + out.name + "' failed: " + Hdf5Message());
}

void ResultWriter::SetAttribute(const std::string& name, const std::string& value) {
  ReplaceAttribute(name);
  H5Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  if (!type.valid() || H5Tset_size(type.get(), H5T_VARIABLE) < 0 || H5Tset_cset(type.get(), H5T_CSET_UTF8) < 0)
    throw OutputError(partial_path_ + ": cannot write attribute '" + name + "': " + Hdf5Message());
  H5Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  H5Handle attr(H5Acreate2(file_.get(), name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  const char* ptr = value.c_str();
  if (!attr.valid() || H5Awrite(attr.get(), type.get(), &ptr) < 0)
    throw OutputError(partial_path_ + ": cannot write attribute '" + name + "': " + Hdf5Message());
}

void ResultWriter::ReplaceAttribute(const std::string& name) {
  const htri_t exists = H5Aexists(file_.get(), name.c_str());
  if (exists < 0 || (exists > 0 && H5Adelete(file_.get(), name.c_str()) < 0))
    throw OutputError(partial_path_ + ": cannot replace attribute '" + name + "': " + Hdf5Message());
}

void ResultWriter::SetAttribute(const std::string& name, int64_t value) {
  ReplaceAttribute(name);
  H5Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  H5Handle attr(H5Acreate2(file_.get(), name.c_str(), H5T_NATIVE_INT64, space.get(), H5P_DEFAULT, H5P_DEFAULT),
                H5Aclose);
  if (!attr.valid() || H5Awrite(attr.get(), H5T_NATIVE_INT64, &value) < 0)
    throw OutputError(partial_path_ + ": cannot write attribute '" + name + "': " + Hdf5Message());
}

void ResultWriter::Commit(bool overwrite) {
  Seal();
  Publish(overwrite);
}

void ResultWriter::Seal() {
  MPSBATCH_ASSERT(!committed_);
  // Every row is in: from here a failure keeps the files, so that a --resume
  // (perhaps with output.overwrite) only has to commit.
  keep_ = true;
  StopSyncing();
  ThrowIfSyncFailed();
  for (auto& ds : datasets_)
    if (ds.Close() < 0) throw OutputError(partial_path_ + ": closing a dataset failed: " + Hdf5Message());
  if (H5Fflush(file_.get(), H5F_SCOPE_GLOBAL) < 0 || file_.Close() < 0)
    throw OutputError(partial_path_ + ": flushing the file failed: " + Hdf5Message());
}

void ResultWriter::Publish(bool overwrite) {
  MPSBATCH_ASSERT(!committed_ && !file_.valid());
  if (overwrite) {
    if (std::rename(partial_path_.c_str(), final_path_.c_str()) != 0)
      throw OutputError("cannot rename " + partial_path_ + " to " + final_path_ + ": " + std::strerror(errno));
  } else {
    // link() refuses an existing target, so a file that appeared during the
    // run is never replaced.
    if (link(partial_path_.c_str(), final_path_.c_str()) != 0)
      throw OutputError("cannot move " + partial_path_ + " to " + final_path_ + ": " + std::strerror(errno) +
                        (errno == EEXIST ? " (it appeared during the run; set output.overwrite: true)" : ""));
    std::remove(partial_path_.c_str());
  }
  // The journal goes last: without its partial file nothing reads it.
  if (journal_fd_ >= 0) close(journal_fd_);
  journal_fd_ = -1;
  std::remove(JournalPath(final_path_).c_str());
  committed_ = true;
  // Until the folder is synced, a power loss may undo the rename.
  if (const std::string error = SyncFolderOf(final_path_); !error.empty())
    throw OutputError(final_path_ + " is in place, but may not survive a power loss: " + error);
}

}  // namespace mpsbatch
