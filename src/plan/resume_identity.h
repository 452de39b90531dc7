// What an output records of the job that started it, and what a --resume
// compares: the identity lines of a job (ResumeIdentity) and of one
// output.per_input file (ShardIdentity), and how two of them differ. The
// calibration cache keys on part of it (InputConversionIdentity,
// OutputDTypeSetting).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "config/job.h"
#include "plan/job_plan.h"

namespace mpsbatch {

// What a resumed run must share with the run that started its output, as
// "key: value" lines: anything that changes the output's rows (the input's
// size, modification time (ns since the Unix epoch) and datasets; with
// several input files, each one's rows, size and modification time, keyed by
// its path and ahead of the rest so that a refusal names the file; every
// source file's size and modification time, the SHA-256 of the model and of
// model.compiled, device, path, precision, batch size, input and output
// dtypes, scale, the outputs). Rank 0 only.
std::string ResumeIdentity(const JobConfig& job, const JobPlan& plan, int64_t input_mtime_ns);

// output.per_input: what the output file of input file `file` must share
// with the run that started it, as ResumeIdentity's lines: that input file's
// path, rows, size and modification time ("input.file PATH: ..."), and the
// rest of ResumeIdentity but for the other input files (the input datasets'
// shapes per row). Rank 0 only.
std::string ShardIdentity(const JobConfig& job, const JobPlan& plan, size_t file);

// How the job turns stored rows into model inputs (input.dtype, scale, mean,
// std, layout), one "key: value" line each: part of what a resume, and a
// cached calibration, must match.
std::string InputConversionIdentity(const JobConfig& job);

// output.dtype as a resume and a cached calibration record it: the dtype's
// name, or "each output's own" when the job gives none.
std::string OutputDTypeSetting(const JobConfig& job);

// "" when the two identities agree; otherwise the first key that differs:
// "model.sha256 was 'a...' when the output was started, is 'b...' now".
std::string IdentityDifference(const std::string& recorded, const std::string& now);

// How an output file's recorded identity differs from ShardIdentity of this
// run for it ("" where nothing differs): `settings`, the first difference in
// what every file of the job shares (as IdentityDifference says it), and
// `input`, the difference in its input file. A file that records the job's
// identity (ResumeIdentity, as output.per_input files did before
// ShardIdentity) is not compared: `earlier_format` says so, and the caller
// compares it with the job's identity.
struct ShardIdentityDifference {
  std::string settings;
  std::string input;
  bool earlier_format = false;
};
ShardIdentityDifference CompareShardIdentity(const std::string& recorded, const std::string& now);

}  // namespace mpsbatch
