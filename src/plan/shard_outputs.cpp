#include "plan/shard_outputs.h"

#include <fnmatch.h>

#include <filesystem>
#include <set>
#include <unordered_map>
#include <utility>

#include "common/error.h"
#include "common/log.h"
#include "config/output_rules.h"
#include "plan/job_plan.h"
#include "plan/resume_identity.h"
#include "read/input_set.h"
#include "write/output_origin.h"

namespace mpsbatch {

std::vector<std::string> ShardOutputPaths(const std::string& pattern, const std::vector<InputShard>& files) {
  std::vector<std::string> paths;
  std::unordered_map<std::string, size_t> by_path;
  for (size_t i = 0; i < files.size(); ++i) {
    if (const std::string problem = ExpandedOutputProblem(pattern, files[i].path, i, files.size()); !problem.empty())
      throw ConfigError("output.path: " + problem);
    paths.push_back(ExpandOutputPattern(pattern, files[i].path, i, files.size()));
    if (std::filesystem::path(paths.back()).lexically_normal() ==
        std::filesystem::path(files[i].path).lexically_normal())
      throw ConfigError("output.path: '" + pattern + "' names input file " + files[i].path +
                        " itself as its output; put the outputs in another folder or give them another name");
    // An input file named like the pattern ({stem}.h5) would give its output
    // the pattern's own lock file, which the job holds already.
    if (paths.back() == pattern)
      throw ConfigError("output.path: '" + pattern + "' names the output of input file " + files[i].path + " '" +
                        pattern + "', the pattern itself, whose lock file the job holds for all its files; " +
                        "rename that input file, or add {index} to the name (e.g. " +
                        (std::filesystem::path(pattern).parent_path() / "{index}-{stem}.h5").string() + ")");
    if (auto [at, fresh] = by_path.emplace(paths.back(), i); !fresh)
      throw ConfigError("output.path: '" + pattern + "' names one output, " + paths.back() + ", for input files " +
                        files[at->second].path + " and " + files[i].path + "; add {index} to the name (e.g. " +
                        (std::filesystem::path(pattern).parent_path() / "{index}-{stem}.h5").string() + ")");
  }
  return paths;
}

void CheckOutputsBeyondInputGlobs(const std::string& pattern, const std::vector<std::string>& paths,
                                  const std::vector<InputShard>& files, const std::vector<std::string>& entries) {
  for (const auto& entry : entries) {
    if (!IsGlobEntry(entry)) continue;
    for (size_t i = 0; i < paths.size(); ++i) {
      // What a run leaves beside an output when it stops, too: a later run
      // expands the glob again and would take those for input files.
      for (const std::string& name : {paths[i], PartialPath(paths[i]), JournalPath(paths[i]), LockPath(paths[i])}) {
        if (::fnmatch(entry.c_str(), name.c_str(), FNM_PATHNAME | FNM_PERIOD) != 0) continue;
        const std::string what = name == paths[i] ? name + "," : name + ", a side file of " + paths[i] + ",";
        throw ConfigError("output.path: '" + pattern + "' names " + what + " the output of input file " +
                          files[i].path + ", which input.path's glob '" + entry +
                          "' matches: a later run of this job (a --resume, or one after more input files arrive) "
                          "would read it as an input file; put the outputs in a folder the glob does not reach, or "
                          "give them names it does not match");
      }
    }
  }
}

namespace {

// What wrote the output `path` of the pattern `pattern`, for a refusal: ""
// for a file of this pattern's per-input job (an earlier run of the same
// job, which the count says enough of), else "; " + DescribeOrigin.
std::string ForeignOrigin(const std::string& path, const std::string& pattern) {
  const auto origin = ReadOutputOrigin(path);
  if (!origin || (origin->per_input && origin->output_path == pattern)) return "";
  return "; " + DescribeOrigin(*origin);
}

// Throws OutputError unless `overwrite` when any of `paths` exists and is to
// be replaced, naming the first, what wrote it when another kind of job did,
// and how many.
void CheckNoneReplaced(const std::string& pattern, const std::vector<std::string>& paths,
                       const std::vector<bool>& replaced, bool overwrite) {
  if (overwrite) return;
  size_t count = 0, first = 0;
  for (size_t i = 0; i < paths.size(); ++i)
    if (replaced[i] && count++ == 0) first = i;
  if (count == 0) return;
  throw OutputError("output.path: " + std::to_string(count) + " of the " + std::to_string(paths.size()) +
                    " output files exist (the first: " + paths[first] + ForeignOrigin(paths[first], pattern) +
                    "); set output.overwrite: true to replace them, or move them away");
}

}  // namespace

std::vector<ShardOutput> PlanShardOutputs(const JobConfig& job, const std::vector<InputShard>& files,
                                          const std::vector<KeyedPath>& reads, bool restart, bool dry_run,
                                          std::unique_ptr<OutputLock>& lock) {
  const std::vector<std::string> paths = ShardOutputPaths(job.output.path, files);
  CheckOutputsBeyondInputGlobs(job.output.path, paths, files, job.input.paths);
  // A --resume keeps a committed file (its identity is checked later) unless
  // a partial file of the same name is to replace it.
  std::vector<bool> replaced(paths.size());
  std::set<std::filesystem::path> folders;  // each checked once: a probe file per output would be hundreds
  const ReadFiles read_files(reads);        // each looked up once: thousands of outputs meet thousands of reads
  for (size_t i = 0; i < paths.size(); ++i) {
    CheckOutputFiles(paths[i], read_files);
    CheckOutputFile(paths[i], true);
    if (folders.insert(std::filesystem::path(paths[i]).parent_path()).second)
      CheckOutputFolder(paths[i], dry_run ? FolderCheck::kNoWrite : FolderCheck::kProbeFile);
    replaced[i] = std::filesystem::exists(paths[i]) && (!job.resume || std::filesystem::exists(PartialPath(paths[i])));
  }
  CheckNoneReplaced(job.output.path, paths, replaced, job.output.overwrite);
  if (!dry_run) {
    MakeOutputFolder(job.output.path);
    auto pattern = std::make_unique<OutputLock>(job.output.path);
    // Another run's partial file is not this job's to resume or discard. A
    // job refused here lets go of the pattern too, and with it the run
    // report it shares with the other run's pattern ({name} and {stem}
    // alike name all.report.json).
    for (const auto& path : paths) CheckNotLocked(path, "output file");
    lock = std::move(pattern);
  }
  std::vector<ShardOutput> outputs(paths.size());
  for (size_t i = 0; i < paths.size(); ++i) {
    outputs[i].path = paths[i];
    CheckSavedChunksKept(paths[i], job.resume, restart);
    if (!job.resume) continue;
    outputs[i].earlier = ReadPartial(paths[i]);
    // A partial file started afresh (ReadPartial) still replaces the file.
    if (!outputs[i].earlier && !std::filesystem::exists(PartialPath(paths[i]))) {
      outputs[i].earlier = ReadCommitted(paths[i]);
      outputs[i].committed = outputs[i].earlier.has_value();
    }
  }
  return outputs;
}

std::vector<int64_t> FileFirstChunks(const ChunkPlan& chunks, size_t files) {
  std::vector<int64_t> first(files + 1, chunks.num_chunks());
  for (int64_t id = chunks.num_chunks() - 1; id >= 0; --id) {
    const Chunk c = chunks.chunk(id);
    first[static_cast<size_t>(c.file)] = id;
  }
  // A file without rows has no chunk: it starts where the next one does.
  for (size_t i = files; i-- > 0;) first[i] = std::min(first[i], first[i + 1]);
  return first;
}

namespace {

// Throws, or clears `out.earlier` (logging why), where its input file is not
// the one its output was started from: `difference` says how.
void JudgeChangedInput(ShardOutput& out, const std::string& input, const std::string& difference, bool overwrite) {
  if (!out.committed) {
    spdlog::warn(
        "scoring {} again from its first row: its partial file {} cannot be resumed, as {}; its {} saved "
        "chunk(s) are discarded",
        input, PartialPath(out.path), difference, out.earlier->done.size());
  } else if (overwrite) {
    spdlog::warn("scoring {} again and replacing its output {} (output.overwrite: true): {}", input, out.path,
                 difference);
  } else {
    throw ConfigError("cannot resume: " + out.path + " no longer matches its input file " + input + " (" + difference +
                      "); set output.overwrite: true to score that file again and replace its output, or move " +
                      out.path + " away (it is then scored again)");
  }
  out.earlier.reset();
  out.committed = false;
}

}  // namespace

void CheckShardIdentities(std::vector<ShardOutput>& outputs, const JobConfig& job, const JobPlan& plan,
                          const std::string& job_identity) {
  for (size_t i = 0; i < outputs.size(); ++i) {
    ShardOutput& out = outputs[i];
    out.identity = ShardIdentity(job, plan, i);
    if (!out.earlier) continue;
    const ShardIdentityDifference d = CompareShardIdentity(out.earlier->identity, out.identity);
    const std::string settings =
        d.earlier_format ? IdentityDifference(out.earlier->identity, job_identity) : d.settings;
    if (!settings.empty() && out.committed && d.earlier_format)
      if (const auto origin = ReadOutputOrigin(out.path); origin && !origin->per_input)
        throw ConfigError("cannot resume: " + out.path +
                          " is not a file of this per-input job: " + DescribeOrigin(*origin) +
                          "; move it away, or run without --resume and with output.overwrite: true to replace it");
    if (!settings.empty() && out.committed)
      throw ConfigError("cannot resume: " + out.path + " was committed by another job (" + settings +
                        "); move it away, or run without --resume and with output.overwrite: true to replace it");
    if (!settings.empty())
      throw ConfigError("cannot resume " + PartialPath(out.path) + ": " + settings +
                        "; run with --restart instead of --resume to discard its chunks and start again");
    if (!d.input.empty()) JudgeChangedInput(out, plan.input_files[i].path, d.input, job.output.overwrite);
  }
}

std::optional<PartialState> ResumeShardOutputs(const std::vector<ShardOutput>& outputs,
                                               const std::vector<InputShard>& files) {
  std::optional<PartialState> resume;
  const ShardOutput* chunk_rows_from = nullptr;
  for (const auto& out : outputs) {
    if (!out.earlier) continue;
    if (chunk_rows_from && out.earlier->chunk_rows != resume->chunk_rows)
      throw OutputError("cannot resume: " + chunk_rows_from->path + " records chunks of " +
                        std::to_string(resume->chunk_rows) + " rows, " + out.path + " of " +
                        std::to_string(out.earlier->chunk_rows) + "; " + StartOverAdvice());
    if (!resume) resume = PartialState{out.earlier->identity, out.earlier->chunk_rows, {}, {}};
    chunk_rows_from = &out;
  }
  if (!resume) return resume;
  std::vector<int64_t> rows;
  int64_t all = 0;
  for (const auto& f : files) {
    rows.push_back(f.rows);
    all += f.rows;
  }
  if (all == 0) return resume;
  const std::vector<int64_t> first = FileFirstChunks(ChunkPlan(rows, resume->chunk_rows, 1), files.size());
  for (size_t i = 0; i < outputs.size(); ++i) {
    const auto& earlier = outputs[i].earlier;
    if (!earlier) continue;
    const int64_t chunks = first[i + 1] - first[i];
    if (outputs[i].committed) {
      for (int64_t id = first[i]; id < first[i + 1]; ++id) resume->done.push_back(id);
      continue;
    }
    for (int64_t local : earlier->done) {
      if (local < 0 || local >= chunks)
        throw OutputError("cannot resume: " + JournalPath(outputs[i].path) + " lists chunk " + std::to_string(local) +
                          " of " + std::to_string(chunks) + "; " + StartOverAdvice());
      resume->done.push_back(first[i] + local);
    }
  }
  return resume;
}

}  // namespace mpsbatch
