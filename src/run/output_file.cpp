#include "run/output_file.h"

#include "comm/collective_step.h"
#include "common/error.h"
#include "common/host.h"
#include "common/log.h"
#include "common/stop_signal.h"
#include "read/input_sources.h"
#include "run/report.h"
#include "write/journal.h"

namespace mpsbatch {

namespace {

// Rank 0, before the output is sealed: the input and every file its rows come
// from are as they were when planned. A file rewritten in place during the run
// (HDF5's locks off, or another program) would leave rows of both versions in
// one output.
void CheckInputUnchanged(const PlannedJob& p) {
  for (const auto& file : p.plan.input_files) CheckFileUnchanged("input.path", file.path, file.stamp);
  for (const auto& src : p.plan.input_sources) CheckFileUnchanged("input.path's " + src.role, src.path, src.stamp);
}

// Before the job ends from inside the rank loop: the rows rank 0 has written
// stay in the partial file for a --resume.
// Records what the syncing thread still holds, keeps the partial file and
// journal, closes them and releases the output's lock. Returns the partial
// file's path ("" without a writer: not rank 0, or no output yet).
// Closes the writer keeping its partial file; returns that file's path ("" if
// there was no writer).
std::string SaveWriter(std::unique_ptr<ResultWriter>& writer) {
  std::string partial;
  if (writer) {
    if (const std::string lost = writer->StopSyncing(); !lost.empty())
      spdlog::error("{} (the journal lists the chunks recorded before it)", lost);
    writer->KeepForResume();
    partial = writer->partial_path();
    writer.reset();
  }
  return partial;
}

std::string SaveForResume(std::unique_ptr<ResultWriter>& writer, std::unique_ptr<OutputLock>& lock) {
  const std::string partial = SaveWriter(writer);
  lock.reset();
  return partial;
}

}  // namespace

std::string FileChange(const std::string& path, const FileStamp& then) {
  const auto now = StampOf(path);
  if (now && *now == then) return "";
  if (!now) return "it is gone";
  if (now->size == then.size && now->mtime_ns == then.mtime_ns)
    return "another file of the same size and modification time took its name";
  return "size " + std::to_string(then.size) + " -> " + std::to_string(now->size) + ", modified at " +
         std::to_string(then.mtime_ns) + " -> " + std::to_string(now->mtime_ns) + " ns";
}

void CheckFileUnchanged(const std::string& what, const std::string& path, const FileStamp& then,
                        const std::string& outcome) {
  const std::string change = FileChange(path, then);
  if (change.empty()) return;
  throw InputError(
      what + " '" + path + "' changed during the run (" + change + "): its rows may mix both versions, " +
      (outcome.empty() ? "so the output is not committed; run the job again once the input stays unchanged" : outcome));
}

void CreateOutput(std::unique_ptr<ResultWriter>& writer, const PlannedJob& p, int ranks, const std::string& start_time,
                  const std::vector<std::string>& devices) {
  // With several input files a chunk ends where its file ends.
  auto rows_of = [chunks = PlanChunks(p.plan, 1)](int64_t id) {
    const Chunk c = chunks.chunk(id);
    return std::make_pair(c.begin, c.end);
  };
  if (p.resume) {
    writer = ResultWriter::Reopen(p.job.output.path, StoredOutputs(p.plan.outputs, p.job.on_error), p.plan.rows);
    writer->SetChunkRows(rows_of);
    writer->CheckRecordedChunks(p.resume->records);
  } else {
    writer = std::make_unique<ResultWriter>(p.job.output.path, StoredOutputs(p.plan.outputs, p.job.on_error),
                                            p.plan.rows, p.identity, p.plan.chunk_rows);
    writer->SetChunkRows(rows_of);
  }
  WriteHeaderAttributes(*writer, p, ranks, start_time, devices);
  writer->SetAttribute("resumed_chunks", static_cast<int64_t>(p.resume ? p.resume->done.size() : 0));
  writer->Flush();  // all metadata on disk before the first row (see result_writer.h)
}

void SealOutput(ResultWriter& writer, const PlannedJob& p, int64_t nonfinite, const std::vector<std::string>& paths) {
  CheckInputUnchanged(p);
  writer.SetAttribute("nonfinite_values", nonfinite);
  std::string all;
  for (size_t r = 0; r < paths.size(); ++r) all += "rank " + std::to_string(r) + ": " + paths[r] + "\n";
  writer.SetAttribute("paths", all);
  writer.SetAttribute("end_time", Timestamp());
  writer.Seal();
}

void PublishOutput(ResultWriter& writer, bool overwrite) {
  try {
    writer.Publish(overwrite);
  } catch (const Error& e) {
    spdlog::error("rank 0 failed: {}: {}", ErrorKindName(e.kind()), e.what());
    throw JobFailed(e.kind());
  }
}

void KeepPartial(std::unique_ptr<ResultWriter>& writer, std::unique_ptr<OutputLock>& lock) {
  if (const std::string partial = SaveForResume(writer, lock); !partial.empty())
    spdlog::info("the rows written so far stay in {}; run again with --resume to score only the rest", partial);
}

[[noreturn]] void StopKeepingPartial(std::unique_ptr<ResultWriter>& writer, std::unique_ptr<OutputLock>& lock,
                                     const std::string& output_path, int64_t chunks, int signal,
                                     const std::function<void()>& then) {
  const std::string partial = SaveWriter(writer);
  const int64_t saved = JournalRecordsBySize(JournalPath(output_path));
  spdlog::error("stopped: {} of {} chunks saved in {}; run again with --resume", saved, chunks, partial);
  if (then) then();  // still holding the output's lock, as the report requires
  lock.reset();
  EndBySignal(signal);
}

}  // namespace mpsbatch
