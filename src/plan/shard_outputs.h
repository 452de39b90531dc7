// The output files of output.per_input: one per input file, named by the
// pattern in output.path (config/output_rules.h). Rank 0 names and checks
// them while planning, as it checks the one output of other jobs: no two
// inputs on one output, no output on an input or that the input's glob
// matches, no symbolic link, no file replaced without output.overwrite, no
// saved chunks discarded without --restart. A lock on the pattern keeps two runs of the same pattern apart
// from the start. A file's own lock (the one a job with that file as its one
// output takes) is held only while the file is written (run/output_set.h:
// hundreds of descriptors and lock files would be held otherwise); planning
// refuses a file whose lock another run holds now, so that a run naming the
// same files through another pattern, or one of them as its one output, is
// refused before it scores. A --resume learns what an earlier run left of
// each file: committed, partial, or nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/job.h"
#include "plan/chunk_plan.h"
#include "plan/job_plan.h"
#include "read/input_set.h"
#include "write/output_lock.h"
#include "write/partial_file.h"

namespace mpsbatch {

// One input file's output.
struct ShardOutput {
  std::string path;
  // --resume: what an earlier run left: its committed file (`committed`) or
  // its partial file; nullopt: nothing, the file is started anew.
  std::optional<PartialState> earlier;
  bool committed = false;
  // What the file records of this run (ShardIdentity), once it is known.
  std::string identity;
};

// The output paths of `files` under `pattern`, in input order. Throws
// ConfigError naming both inputs when two map to one output (and suggesting
// {index}), or naming the input an output would replace, or an input whose
// output is the pattern itself (an input file named {stem}.h5), or an
// output's name that a single output.path could not have
// (ExpandedOutputProblem).
std::vector<std::string> ShardOutputPaths(const std::string& pattern, const std::vector<InputShard>& files);

// Throws ConfigError, naming the file, its input file and the glob, when an
// output in `paths` (of `files`, under `pattern`) or a file a stopped run
// leaves beside it (.partial, .partial.chunks, .lock) matches a glob among
// input.path's `entries`: the next run would take it for an input file.
void CheckOutputsBeyondInputGlobs(const std::string& pattern, const std::vector<std::string>& paths,
                                  const std::vector<InputShard>& files, const std::vector<std::string>& entries);

// Rank 0, planning a per_input job: names and checks every output (above;
// CheckOutputFiles against `reads`, CheckOutputFile, CheckOutputFolder once
// per folder, writing nothing if `dry_run`), refuses outputs that
// exist without output.overwrite (naming the first and how many), and unless
// `dry_run` makes the folder, takes the pattern's lock into `lock` and
// refuses a file another run writes now (CheckNotLocked, naming the first)
// before it reads what earlier runs left (with `resume`) or refuses to
// discard it (without `resume` or `restart`). Throws ConfigError or
// OutputError.
std::vector<ShardOutput> PlanShardOutputs(const JobConfig& job, const std::vector<InputShard>& files,
                                          const std::vector<KeyedPath>& reads, bool restart, bool dry_run,
                                          std::unique_ptr<OutputLock>& lock);

// What the plan resumes from the files an earlier run left (after
// CheckShardIdentities), all of one chunk size (OutputError if not): that
// chunk size, the job's chunk ids done (every chunk of a committed file, the
// journal's of a partial one) and the first file's identity; nullopt when no
// file was left.
std::optional<PartialState> ResumeShardOutputs(const std::vector<ShardOutput>& outputs,
                                               const std::vector<InputShard>& files);

// Once the run is planned: records in each output its ShardIdentity and
// judges what an earlier run left of it by what concerns that file, the
// job's settings and model and its own input file. Throws ConfigError,
// naming the file and what differs, when the settings differ. Where only its
// input file differs (changed, or another file now maps to it): a partial
// file is started afresh (its chunks describe rows that are no longer
// there); a committed one is scored again and replaced with
// output.overwrite, and refused naming the input file, its output and the
// fix without it. Each file started afresh is logged as a warning.
void CheckShardIdentities(std::vector<ShardOutput>& outputs, const JobConfig& job, const JobPlan& plan,
                          const std::string& job_identity);

// The first chunk id of each of `files` input files in `chunks`, and one past
// the last chunk: file i's chunks are [first[i], first[i + 1]).
std::vector<int64_t> FileFirstChunks(const ChunkPlan& chunks, size_t files);

}  // namespace mpsbatch
