// Rank 0's output file through the job: created (or reopened for a --resume)
// with its header before scoring, kept for a --resume when scoring ends early,
// sealed once every rank has done its part, and published under output.path
// after MPI has ended. The writer and the output's lock are PlannedJob's and
// RunJob's; these functions are the steps that act on them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "plan/planned_job.h"
#include "write/output_lock.h"
#include "write/result_writer.h"

namespace mpsbatch {

// Rank 0: creates the partial output (or reopens an earlier run's and checks
// its recorded chunks), writes the header attributes and flushes, so that no
// metadata changes while rows are written. The writer is in `writer` as soon
// as it exists, so that a failure after that leaves it to the caller. Throws
// OutputError.
void CreateOutput(std::unique_ptr<ResultWriter>& writer, const PlannedJob& p, int ranks, const std::string& start_time,
                  const std::vector<std::string>& devices);

// How the file at `path` differs from the stamp `then` it had when the job
// was planned: "" if it does not (one stat), else "size 3072 -> 4096, modified
// at ... -> ... ns", "it is gone", or that another file (device and inode) of
// the same size and time took its name. Rank 0's stamps only: others carry
// no device and inode.
std::string FileChange(const std::string& path, const FileStamp& then);

// Throws InputError, naming `what` (the job key) and `path`, unless the file
// at `path` still has the stamp `then` it had when the job was planned: rows
// read from it may mix two versions otherwise. `outcome` says what became of
// the output and what to do ("so the output is not committed; ..." when
// empty).
void CheckFileUnchanged(const std::string& what, const std::string& path, const FileStamp& then,
                        const std::string& outcome = "");

// Rank 0, before the output is committed: checks that the input and every
// file its rows come from are as they were when planned (InputError if not),
// records the run's last attributes and seals the file.
void SealOutput(ResultWriter& writer, const PlannedJob& p, int64_t nonfinite, const std::vector<std::string>& paths);

// Rank 0, once MPI has ended: moves the sealed output into place. A failure is
// logged as rank 0's and thrown as JobFailed.
void PublishOutput(ResultWriter& writer, bool overwrite);

// Before the job ends from inside the rank loop: the rows rank 0 has written
// stay in the partial file for a --resume (logged), and the lock is released.
// Does nothing without a writer.
void KeepPartial(std::unique_ptr<ResultWriter>& writer, std::unique_ptr<OutputLock>& lock);

// Rank 0, told to stop by a signal while scoring: records every finished
// chunk durably, keeps the partial file for a --resume and ends the process
// by that signal, running `then` (the run report) once the stop line is
// logged. (mpirun sends SIGKILL odls_base_sigkill_timeout after its SIGTERM,
// and ends the job when another rank dies of the signal: what is saved and
// said comes first; a journal cut short still lists only durable chunks.)
[[noreturn]] void StopKeepingPartial(std::unique_ptr<ResultWriter>& writer, std::unique_ptr<OutputLock>& lock,
                                     const std::string& output_path, int64_t chunks, int signal,
                                     const std::function<void()>& then = {});

}  // namespace mpsbatch
