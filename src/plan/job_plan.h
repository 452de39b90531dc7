// The plan rank 0 makes and every rank follows: what the input holds, what the
// model returns per row, and how the rows are cut into chunks. Rank 0 builds
// it from the job, the input's metadata and one probe batch through the model,
// then broadcasts it (SerializePlan / DeserializePlan).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/dtype.h"
#include "common/output_spec.h"
#include "config/job.h"
#include "plan/chunk_plan.h"
#include "read/input_file.h"
#include "read/input_set.h"

namespace mpsbatch {

struct JobPlan {
  int64_t rows = 0;
  int64_t chunk_rows = 0;
  std::vector<DatasetInfo> inputs;        // in input.datasets order
  std::vector<OutputSpec> outputs;        // in output.datasets order
  InputMode mode = InputMode::kAuto;      // shared or scatter once ranks have been asked
  int64_t input_file_size = 0;            // one input file: its size
  std::vector<InputShard> input_files;    // every input file, in row order (one for a single path)
  std::vector<SourceFile> input_sources;  // files besides input.path the rows come from
  int64_t model_size = 0;
  std::string model_sha256;
  int64_t compiled_size = 0;  // model.compiled, when the job has one
  std::string compiled_sha256;

  size_t input_row_bytes() const;
  size_t output_row_bytes() const;
};

// The plan's wire format (native byte order; every rank runs the same build)
// opens with kPlanFormatVersion, which changes with the format.
inline constexpr int64_t kPlanFormatVersion = 2;

std::string SerializePlan(const JobPlan& plan);
// Throws InternalError on a malformed buffer, and on a plan of another format
// version (naming both versions).
JobPlan DeserializePlan(const std::string& data);

// The output datasets a probe batch of `rows` rows implies. Throws ModelError
// if the model's outputs don't match output.datasets in count, or an output
// has no batch dimension of `rows`.
std::vector<OutputSpec> OutputSpecsFromProbe(const JobConfig& job, const std::vector<HostArray>& probe, int64_t rows);

// Several lines for the log and --dry-run.
// "17 files (first ... last), 2 file(s) without rows skipped" for an input of
// several files; "" for one.
std::string InputFilesSummary(const JobPlan& plan);
std::string DescribePlan(const JobConfig& job, const JobPlan& plan, int ranks);

// The chunks of the plan's rows over `ranks` ranks: chunk_rows rows each,
// never across two input files.
ChunkPlan PlanChunks(const JobPlan& plan, int ranks);

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
