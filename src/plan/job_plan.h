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

}  // namespace mpsbatch
