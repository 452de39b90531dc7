#include "run/output_set.h"

#include <algorithm>
#include <utility>

#include "common/error.h"
#include "common/host.h"
#include "common/log.h"
#include "common/stop_signal.h"
#include "hdf5/types.h"
#include "plan/chunk_plan.h"
#include "plan/shard_outputs.h"
#include "run/bad_rows.h"
#include "run/output_file.h"
#include "run/report.h"
#include "run/run_attributes.h"
#include "write/journal.h"

namespace mpsbatch {

namespace {

// Reads rows [begin, begin + count) of dataset `spec` of the committed file
// `path` (a --resume reading back the failed rows an earlier run recorded).
void ReadCommittedRows(const std::string& path, const OutputSpec& spec, int64_t begin, int64_t count, std::byte* data) {
  H5Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  H5Handle ds(file.valid() ? H5Dopen2(file.get(), spec.name.c_str(), H5P_DEFAULT) : H5I_INVALID_HID, H5Dclose);
  if (!ds.valid()) throw OutputError("cannot read '" + spec.name + "' of " + path + ": " + Hdf5Message());
  H5Handle space(H5Dget_space(ds.get()), H5Sclose);
  std::vector<hsize_t> start(static_cast<size_t>(H5Sget_simple_extent_ndims(space.get())), 0), dims = start;
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  start[0] = static_cast<hsize_t>(begin);
  dims[0] = static_cast<hsize_t>(count);
  H5Handle memory(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
  if (H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start.data(), nullptr, dims.data(), nullptr) < 0 ||
      H5Dread(ds.get(), NativeH5Type(spec.dtype), memory.get(), space.get(), H5P_DEFAULT, data) < 0)
    throw OutputError("cannot read rows of '" + spec.name + "' of " + path + ": " + Hdf5Message());
}

}  // namespace

OutputSet::OutputSet(const PlannedJob& p, std::function<void(ResultWriter&, bool created)> header)
    : p_(p), header_(std::move(header)), outputs_(StoredOutputs(p.plan.outputs, p.job.on_error)) {
  const auto& inputs = p.plan.input_files;
  MPSBATCH_ASSERT(p.shard_outputs.size() == inputs.size());
  const std::vector<int64_t> first = FileFirstChunks(PlanChunks(p.plan, 1), inputs.size());
  int64_t row = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const ShardOutput& out = p.shard_outputs[i];
    File f;
    f.input = inputs[i].path;
    f.output = out.path;
    f.identity = out.identity;
    f.stamp = inputs[i].stamp;
    f.first_row = row;
    f.rows = inputs[i].rows;
    f.first_chunk = first[i];
    f.chunks = first[i + 1] - first[i];
    row += f.rows;
    if (out.committed) {
      f.committed = true;
      f.done = f.chunks;
      ++committed_;
    } else if (out.earlier) {
      f.earlier = &*out.earlier;
      f.done = static_cast<int64_t>(out.earlier->done.size());
    }
    files_.push_back(std::move(f));
  }
}

OutputSet::~OutputSet() = default;

OutputSet::File& OutputSet::FileOfRow(int64_t row) {
  // The last file starting at or before `row`: past the files without rows
  // that start where the next one does.
  auto it =
      std::upper_bound(files_.begin(), files_.end(), row, [](int64_t r, const File& f) { return r < f.first_row; });
  MPSBATCH_ASSERT(it != files_.begin());
  return *std::prev(it);
}

OutputSet::File& OutputSet::FileOfChunk(int64_t id) {
  auto it =
      std::upper_bound(files_.begin(), files_.end(), id, [](int64_t c, const File& f) { return c < f.first_chunk; });
  MPSBATCH_ASSERT(it != files_.begin());
  return *std::prev(it);
}

ResultWriter& OutputSet::Writer(File& f) {
  if (f.writer) return *f.writer;
  MPSBATCH_ASSERT(!f.committed);
  // Before anything is truncated: another job may name this file too.
  if (!f.lock) f.lock = std::make_unique<OutputLock>(f.output, "output file");
  // Chunk k of the file: its rows cut on their own (plan/chunk_plan.h).
  auto rows_of = [rows = f.rows, chunk_rows = p_.plan.chunk_rows](int64_t k) {
    return std::make_pair(k * chunk_rows, std::min(rows, (k + 1) * chunk_rows));
  };
  if (f.earlier) {
    f.writer = ResultWriter::Reopen(f.output, outputs_, f.rows);
    f.writer->SetChunkRows(rows_of);
    f.writer->CheckRecordedChunks(f.earlier->records);
  } else {
    f.writer = std::make_unique<ResultWriter>(f.output, outputs_, f.rows, f.identity, p_.plan.chunk_rows);
    f.writer->SetChunkRows(rows_of);
  }
  header_(*f.writer, !f.earlier);
  f.writer->SetAttribute("input_file", f.input);
  f.writer->SetAttribute("rows", f.rows);
  f.writer->SetAttribute("resumed_chunks", static_cast<int64_t>(f.earlier ? f.earlier->done.size() : 0));
  f.writer->Flush();  // all metadata on disk before the first row (see result_writer.h)
  return *f.writer;
}

void OutputSet::CommitFinished() {
  for (auto& f : files_)
    if (!f.committed && f.done == f.chunks) Commit(f);
}

void OutputSet::WriteRows(size_t index, int64_t begin, int64_t count, const std::byte* data) {
  File& f = FileOfRow(begin);
  Writer(f).WriteRows(index, begin - f.first_row, count, data);
}

void OutputSet::ReadRows(size_t index, int64_t begin, int64_t count, std::byte* data) {
  File& f = FileOfRow(begin);
  if (f.committed) {
    ReadCommittedRows(f.output, outputs_.at(index), begin - f.first_row, count, data);
  } else {
    Writer(f).ReadRows(index, begin - f.first_row, count, data);
  }
}

void OutputSet::MarkChunkDone(int64_t id) {
  File& f = FileOfChunk(id);
  Writer(f).MarkChunkDone(id - f.first_chunk);
  if (++f.done == f.chunks) Commit(f);
}

void OutputSet::Commit(File& f) {
  ResultWriter& w = Writer(f);
  // Its rows were read from what the plan recorded, or it is not committed.
  const std::string outcome = "so its output " + f.output + " is not committed (its partial file stays); the " +
                              std::to_string(committed_) +
                              " output file(s) committed so far stay: run the job again with --resume once the input "
                              "stays unchanged, which scores this file again from its first row";
  CheckFileUnchanged("input.path", f.input, f.stamp, outcome);
  for (const auto& src : p_.plan.input_sources)
    CheckFileUnchanged("input.path's " + src.role, src.path, src.stamp, outcome);
  if (p_.job.on_error == OnError::kSkip) {
    std::vector<std::byte> flags(static_cast<size_t>(f.rows));
    if (f.rows > 0) w.ReadRows(outputs_.size() - 1, 0, f.rows, flags.data());
    w.SetAttribute("failed_rows", static_cast<int64_t>(std::count_if(flags.begin(), flags.end(),
                                                                     [](std::byte b) { return b != std::byte{0}; })));
  }
  w.SetAttribute("end_time", Timestamp());
  w.Commit(p_.job.output.overwrite);
  f.writer.reset();
  f.lock.reset();
  f.committed = true;
  ++committed_;
  spdlog::debug("committed {} ({} rows of {}); {}", f.output, f.rows, f.input, ProgressNote());
}

void OutputSet::CheckInputsUnchanged() const {
  std::vector<std::pair<const File*, std::string>> changed;  // each file and how it changed
  for (const auto& f : files_)
    if (std::string change = FileChange(f.input, f.stamp); !change.empty()) changed.emplace_back(&f, std::move(change));
  if (!changed.empty()) {
    const File& f = *changed.front().first;
    std::string more;
    for (size_t i = 1; i < changed.size() && i < 4; ++i) more += (i == 1 ? "" : ", ") + changed[i].first->input;
    if (changed.size() > 4) more += " and " + std::to_string(changed.size() - 4) + " more";
    throw InputError(
        "input.path's file '" + f.input + "' changed during the run (" + changed.front().second +
        "), after its rows were read: its committed output " + f.output + " holds the scores of " + f.input +
        " as it was before the change (and records that version), not of what it holds now" +
        (more.empty() ? "" : "; changed too: " + more) + ". The outputs of the other " +
        std::to_string(files_.size() - changed.size()) +
        " input file(s) are committed and stay. Once the input stays unchanged, run the job again with --resume and "
        "output.overwrite: true: it keeps those and scores the changed file(s) again, replacing their outputs");
  }
  for (const auto& src : p_.plan.input_sources)
    if (const std::string change = FileChange(src.path, src.stamp); !change.empty())
      throw InputError("input.path's " + src.role + " '" + src.path + "' changed during the run (" + change +
                       "), after rows were read from it: the committed outputs whose rows come from it hold the "
                       "scores of its earlier contents (and record that version). Once it stays unchanged, run the "
                       "job again without --resume and with output.overwrite: true to score every file again");
}

std::string OutputSet::ProgressNote() const {
  return std::to_string(committed_) + " of " + std::to_string(files_.size()) + " files committed";
}

size_t OutputSet::partial() const {
  return static_cast<size_t>(std::count_if(
      files_.begin(), files_.end(), [](const File& f) { return !f.committed && (f.writer || f.earlier || f.kept); }));
}

void OutputSet::KeepForResume() noexcept {
  for (auto& f : files_) {
    if (f.writer) {
      if (const std::string lost = f.writer->StopSyncing(); !lost.empty())
        spdlog::error("{} (the journal lists the chunks recorded before it)", lost);
      f.writer->KeepForResume();
      f.writer.reset();
      f.kept = true;
    }
    f.lock.reset();  // after the writer; also one taken for a file not yet created
  }
}

std::unique_ptr<OutputSet> CreateOutputSet(const PlannedJob& p, int ranks, const std::string& start_time,
                                           const std::vector<std::string>& devices, const std::string& command_line) {
  auto set =
      std::make_unique<OutputSet>(p, [&p, ranks, start_time, devices, command_line](ResultWriter& w, bool created) {
        WriteHeaderAttributes(w, p, ranks, start_time, devices);
        WriteRunAttributes(w, p, command_line, start_time);
        // A file this run starts begins with it, a --resume's too.
        if (created && p.resume) w.SetAttribute("first_start_time", start_time);
      });
  set->CommitFinished();
  return set;
}

namespace {

// "3 of 17 files committed, 1 partial".
std::string FilesSaved(const OutputSet& set) {
  return std::to_string(set.committed()) + " of " + std::to_string(set.files()) + " files committed, " +
         std::to_string(set.partial()) + " partial";
}

}  // namespace

void KeepShards(OutputSet* set) {
  if (!set) return;
  set->KeepForResume();
  spdlog::info("{}; the rows written so far stay in the partial files; run again with --resume to score only the rest",
               FilesSaved(*set));
}

[[noreturn]] void StopKeepingShards(OutputSet& set, std::unique_ptr<OutputLock>& lock, int signal,
                                    const std::function<void()>& then) {
  set.KeepForResume();
  spdlog::error("stopped: {}; run again with --resume", FilesSaved(set));
  if (then) then();  // still holding the output's lock, as the report requires
  lock.reset();
  EndBySignal(signal);
}

}  // namespace mpsbatch
