// What a model file says it was exported for. The export helper
// (scripts/export_model.py, installed as mpsbatch-export) records, in a
// TorchScript file (torch.jit.save's extra file "mpsbatch_export", one
// "key: value" line per entry) and in an AOTInductor package (its metadata,
// AOTIModelPackageLoader::get_metadata), the inputs it was exported for:
// forward()'s argument names, the datasets, the dtype and per-row shape each
// reaches forward() in, the precision and the job's input.layout. A job that
// would feed the model something else is refused before any batch runs, with
// the key that fixes it. A model without a record is not checked here.
// Sees no torch header, but lives in infer/ beside its only user.
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/dtype.h"
#include "infer/aoti_signature.h"
#include "infer/engine.h"

namespace mpsbatch {

// The name of the TorchScript extra file, and the keys (of that file's lines
// and of a package's metadata).
inline constexpr char kExportRecordFile[] = "mpsbatch_export";

struct ExportRecord {
  std::vector<std::string> inputs;    // forward()'s argument names, in order
  std::vector<std::string> datasets;  // the job's input.datasets, or the --input names
  std::vector<std::string> dtypes;    // torch's names ("float32"), one per input
  std::vector<Shape> row_shapes;      // as forward() gets them (after input.layout)
  std::string precision;              // "fp32", "fp16", "bf16"
  std::string layout;                 // the job's input.layout; "" when exported from given shapes
};

// "key: value" lines (the TorchScript extra file) as a map.
std::unordered_map<std::string, std::string> ParseRecordLines(const std::string& text);

// The record in `entries` (a package's metadata, or ParseRecordLines), or
// nullopt when they hold none (no "mpsbatch.format" key). Throws ModelError,
// naming `path`, for a record this mpsbatch cannot read.
std::optional<ExportRecord> ReadExportRecord(const std::unordered_map<std::string, std::string>& entries,
                                             const std::string& path);

// "" when the job's `feeds` (in input.datasets order) are what `record` was
// exported for; otherwise what differs and the key that fixes it. `package`:
// the model is an AOTInductor package, which is not cast to the job's
// precision (a TorchScript model is, so a float32 export runs at fp16 too).
std::string ExportRecordMismatch(const ExportRecord& record, const std::vector<ModelFeed>& feeds,
                                 const EngineOptions& options, bool package);

}  // namespace mpsbatch
