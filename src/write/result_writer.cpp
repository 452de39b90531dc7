#include "write/result_writer.h"

#include <algorithm>
#include <string>

#include "common/error.h"
#include "hdf5/types.h"

namespace mpsbatch {

ResultWriter::ResultWriter(const std::string& final_path, const std::vector<OutputSpec>& outputs)
    : final_path_(final_path),
      partial_path_(PartialPath(final_path)),
      outputs_(outputs),
      journal_(JournalPath(final_path), partial_path_) {}

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
    journal_.Open(run_id_, /*truncate=*/true);
    CreateDatasets(rows);
    SetAttribute(kRunIdAttribute, run_id_);
    SetAttribute(kIdentityAttribute, identity);
    SetAttribute(kChunkRowsAttribute, chunk_rows);
  } catch (...) {
    datasets_.clear();
    file_.Close();
    RemovePartialFiles(final_path_);
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
  w->journal_.Open(w->run_id_, /*truncate=*/false);
  return w;
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

void ResultWriter::ReadRows(size_t index, int64_t begin, int64_t count, std::byte* data) {
  MPSBATCH_ASSERT(index < outputs_.size());
  const auto& out = outputs_[index];
  if (count == 0 || out.row_bytes() == 0) return;
  auto [file_space, mem_space] = RowSpaces(index, begin, count);
  if (H5Dread(datasets_[index].get(), NativeH5Type(out.dtype), mem_space.get(), file_space.get(), H5P_DEFAULT, data) <
      0)
    throw OutputError(partial_path_ + ": reading back rows " + std::to_string(begin) + ".." +
                      std::to_string(begin + count) + " of '" + out.name + "' failed: " + Hdf5Message());
}

std::pair<int64_t, int64_t> ResultWriter::ChunkRows(int64_t id) const {
  if (rows_of_) return rows_of_(id);
  const int64_t begin = std::min(id * chunk_rows_, rows_);
  return {begin, std::min(begin + chunk_rows_, rows_)};
}

uint32_t ResultWriter::ChunkChecksum(int64_t id) {
  const auto [begin, end] = ChunkRows(id);
  uint32_t crc = 0;
  std::vector<std::byte> rows;
  for (size_t i = 0; i < outputs_.size(); ++i) {
    rows.resize(static_cast<size_t>(end - begin) * outputs_[i].row_bytes());
    if (rows.empty()) continue;
    ReadRows(i, begin, end - begin, rows.data());
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

namespace {

// Dataset access without HDF5's chunk cache. Every row range is written once
// and the datasets have no filters, so with no cache HDF5 writes a range's
// bytes straight to the chunk's place in the file (its storage is allocated
// early). A cache would read a whole chunk (about 1 MiB) to change part of it
// and write the whole chunk back on each MarkChunkDone's flush: with small
// rows, chunks arriving out of order and a flush per chunk, rank 0 then moved
// a megabyte or two per chunk of a few kilobytes.
H5Handle WriteThroughAccess() {
  H5Handle dapl(H5Pcreate(H5P_DATASET_ACCESS), H5Pclose);
  if (dapl.valid() && H5Pset_chunk_cache(dapl.get(), 0, 0, H5D_CHUNK_CACHE_W0_DEFAULT) < 0) return H5Handle();
  return dapl;
}

}  // namespace

void ResultWriter::OpenDatasets(int64_t rows) {
  for (const auto& out : outputs_) {
    H5Handle dapl = WriteThroughAccess();
    H5Handle ds(dapl.valid() ? H5Dopen2(file_.get(), out.name.c_str(), dapl.get()) : H5I_INVALID_HID, H5Dclose);
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
    // A name "a/b" creates the group "a" on the way.
    H5Handle lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
    if (!space.valid() || !dcpl.valid() || !lcpl.valid() || H5Pset_create_intermediate_group(lcpl.get(), 1) < 0)
      throw fail();
    // No rows (an input file of none, output.per_input): HDF5 takes no chunks
    // larger than the dataset, and there is nothing to chunk.
    if (out.row_bytes() > 0 && rows > 0 && H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data()) < 0)
      throw fail();
    // All storage now, none of it filled: writing rows later touches no
    // metadata (see the header), and costs nothing up front.
    if (H5Pset_alloc_time(dcpl.get(), H5D_ALLOC_TIME_EARLY) < 0 ||
        H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER) < 0)
      throw fail();
    H5Handle dapl = WriteThroughAccess();
    if (!dapl.valid()) throw fail();
    H5Handle ds(H5Dcreate2(file_.get(), out.name.c_str(), NativeH5Type(out.dtype), space.get(), lcpl.get(), dcpl.get(),
                           dapl.get()),
                H5Dclose);
    if (!ds.valid()) throw OutputError(partial_path_ + ": cannot create dataset '" + out.name + "': " + Hdf5Message());
    datasets_.push_back(std::move(ds));
  }
}

ResultWriter::~ResultWriter() {
  StopSyncing();  // records what waits: a failed run keeps those chunks
  journal_.Close();
  if (committed_) return;
  datasets_.clear();
  file_.Close();
  if (!keep_) RemovePartialFiles(final_path_);
}

void ResultWriter::MarkChunkDone(int64_t id) {
  journal_.ThrowIfFailed();
  // The rows into the file (the operating system's cache); the journal's
  // next fsync then covers them, and only after it does the journal record
  // the id.
  const auto [begin, end] = ChunkRows(id);
  uint32_t rows_crc;
  if (auto it = written_.find(begin);
      it != written_.end() && it->second.outputs == outputs_.size() && it->second.rows == end - begin) {
    rows_crc = it->second.crc;
  } else {
    rows_crc = ChunkChecksum(id);
  }
  written_.erase(begin);
  if (H5Fflush(file_.get(), H5F_SCOPE_LOCAL) < 0)
    throw OutputError(partial_path_ + ": flushing chunk " + std::to_string(id) + " failed: " + Hdf5Message());
  if (!journal_.syncing()) journal_.StartSyncing(Sec2DescriptorOf(file_.get()));
  journal_.Add({id, rows_crc});
}

void ResultWriter::Sync() { journal_.Sync(); }

std::string ResultWriter::StopSyncing() noexcept { return journal_.StopSyncing(); }

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
  WrittenChunk& chunk = written_[begin];
  if (index == 0) chunk = WrittenChunk{count};
  if (chunk.outputs != index || chunk.rows != count) {  // out of order: MarkChunkDone reads the rows back
    written_.erase(begin);
    return;
  }
  chunk.crc = Crc32(data, static_cast<size_t>(count) * out.row_bytes(), chunk.crc);
  ++chunk.outputs;
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

void ResultWriter::SetAttribute(const std::string& name, double value) {
  ReplaceAttribute(name);
  H5Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  H5Handle attr(H5Acreate2(file_.get(), name.c_str(), H5T_NATIVE_DOUBLE, space.get(), H5P_DEFAULT, H5P_DEFAULT),
                H5Aclose);
  if (!attr.valid() || H5Awrite(attr.get(), H5T_NATIVE_DOUBLE, &value) < 0)
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
  journal_.ThrowIfFailed();
  for (auto& ds : datasets_)
    if (ds.Close() < 0) throw OutputError(partial_path_ + ": closing a dataset failed: " + Hdf5Message());
  if (H5Fflush(file_.get(), H5F_SCOPE_GLOBAL) < 0 || file_.Close() < 0)
    throw OutputError(partial_path_ + ": flushing the file failed: " + Hdf5Message());
}

void ResultWriter::Publish(bool overwrite) {
  MPSBATCH_ASSERT(!committed_ && !file_.valid());
  MovePartialIntoPlace(final_path_, overwrite);
  // The journal goes last: without its partial file nothing reads it.
  journal_.Close();
  RemoveJournal(final_path_);
  committed_ = true;
  // Until the folder is synced, a power loss may undo the rename.
  if (const std::string error = SyncFolderOf(final_path_); !error.empty())
    throw OutputError(final_path_ + " is in place, but may not survive a power loss: " + error);
}

}  // namespace mpsbatch
