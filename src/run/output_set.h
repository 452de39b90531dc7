// Rank 0's output under output.per_input: one file per input file, each a
// ResultWriter of its own under the name the pattern gives it
// (plan/shard_outputs.h), holding that input file's rows in order. A file's
// writer opens when its first chunk arrives, and the file is committed
// (sealed, renamed from its partial name into place, its folder fsync'ed, as
// ResultWriter::Commit does) as soon as its last chunk is written and
// durable, not at the end of the job: a consumer can start on the finished
// files while later ones are scored. Files finish roughly in input order, so
// few are open at once. A --resume skips the files an earlier run of the job
// committed and continues its partial ones from their journals. Each file is
// locked (write/output_lock.h) from before its partial file is created or
// reopened until it is committed or kept for a --resume: a job writing the
// same file through another pattern, or as its one output, is refused, and
// this job is refused a file another job writes.
// Not thread-safe: rank 0's main thread calls it (holding Hdf5Mutex() during
// the rank loop).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "plan/planned_job.h"
#include "write/chunk_sink.h"
#include "write/output_lock.h"
#include "write/result_writer.h"

namespace mpsbatch {

class OutputSet final : public ChunkSink {
 public:
  // `header` writes the job's attributes into each file it creates
  // (`created`) or reopens, before the file's first row. Opens no file yet.
  OutputSet(const PlannedJob& p, std::function<void(ResultWriter&, bool created)> header);
  // Files still open are removed, or kept if KeepForResume() was called (as
  // ResultWriter's destructor does).
  ~OutputSet() override;
  OutputSet(const OutputSet&) = delete;
  OutputSet& operator=(const OutputSet&) = delete;

  // Commits the files that wait for no chunk: those of input files without
  // rows, and those an earlier run finished but did not commit. Before the
  // rank loop. Throws OutputError (InputError for an input file changed).
  void CommitFinished();

  // ChunkSink: rows and chunk ids are the job's, across the input files.
  // MarkChunkDone commits the chunk's file once its last chunk is in.
  void WriteRows(size_t index, int64_t begin, int64_t count, const std::byte* data) override;
  void ReadRows(size_t index, int64_t begin, int64_t count, std::byte* data) override;
  void MarkChunkDone(int64_t id) override;
  // Before the job reports success: every input file and every file its
  // rows come from still has the stamp the plan recorded (one stat each).
  // Throws InputError naming the first changed file, the committed output
  // that holds the scores of its earlier contents, and the fix.
  void CheckInputsUnchanged() const;
  // "5 of 17 files committed".
  std::string ProgressNote() const override;

  size_t files() const { return files_.size(); }
  size_t committed() const { return committed_; }
  // Whether input file `i`'s output is committed.
  bool committed(size_t i) const { return files_.at(i).committed; }
  // Files left with a partial file: open ones, and those an earlier run
  // started that this one has not finished.
  size_t partial() const;
  // Before the job ends early: records the finished chunks of every open
  // file and keeps its partial file for a --resume (a failure to record is
  // logged), and lets go of the files' locks. Never throws.
  void KeepForResume() noexcept;

 private:
  struct File {
    std::string input, output;
    std::string identity;  // what the file records of this run (ShardIdentity)
    FileStamp stamp;
    int64_t first_row = 0, rows = 0;
    int64_t first_chunk = 0, chunks = 0;
    int64_t done = 0;  // chunks written, by an earlier run or this one
    bool committed = false;
    bool kept = false;                      // its partial file kept for a --resume
    const PartialState* earlier = nullptr;  // a partial file to continue (--resume)
    std::unique_ptr<OutputLock> lock;       // held while the writer is open
    std::unique_ptr<ResultWriter> writer;   // destroyed before the lock
  };
  File& FileOfRow(int64_t row);
  File& FileOfChunk(int64_t id);
  // The file's writer, created or reopened on first use, after its lock is
  // taken (OutputError if another process holds it).
  ResultWriter& Writer(File& f);
  void Commit(File& f);

  const PlannedJob& p_;
  std::function<void(ResultWriter&, bool created)> header_;
  std::vector<OutputSpec> outputs_;
  std::vector<File> files_;
  size_t committed_ = 0;
};

// Rank 0's output set for a per_input job, each file with the header and run
// attributes a single output has (run/report.h, run/run_attributes.h), and
// the files that wait for no chunk committed. Throws as OutputSet does.
std::unique_ptr<OutputSet> CreateOutputSet(const PlannedJob& p, int ranks, const std::string& start_time,
                                           const std::vector<std::string>& devices, const std::string& command_line);

// Before the job ends from inside the rank loop: the open files stay for a
// --resume, and the log says how many files are committed and how many
// partial. Does nothing without a set.
void KeepShards(OutputSet* set);

// Rank 0, told to stop by a signal while scoring: as StopKeepingPartial
// (run/output_file.h), for every open file; the stop line says how many files
// are committed and how many partial.
[[noreturn]] void StopKeepingShards(OutputSet& set, std::unique_ptr<OutputLock>& lock, int signal,
                                    const std::function<void()>& then = {});

}  // namespace mpsbatch
