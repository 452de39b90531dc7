// What an AOTInductor package was exported to take, and whether a job's inputs
// fit it. A package records its inputs in one place: the input checks that
// AOTInductor generates into the package's wrapper source (one check_input_N
// function per input: dtype, fixed sizes, bounds of dynamic sizes, strides),
// which its runtime runs only when AOTI_RUNTIME_CHECK_INPUTS is set. Its
// metadata (device, platform) and call spec (argument structure) say nothing
// about dtypes or shapes. Fed the wrong dtype without those checks, a
// package's kernels read the bytes as their own type: garbage, or an abort
// from inside a kernel. The engine checks before any batch runs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/dtype.h"
#include "infer/engine.h"

namespace mpsbatch {

// One dimension as a package's input check tests it.
struct AotiDim {
  int64_t size = -1;  // >= 0: the package takes only this size
  int64_t min = -1;   // a dynamic dimension's bounds, where the package checks them (-1: unchecked)
  int64_t max = -1;
};

struct AotiInput {
  std::string dtype;             // torch's name: "float32", "int64", "bool", ...
  std::vector<AotiDim> dims;     // dims[0] is the batch
  std::vector<int64_t> strides;  // -1 where a stride depends on a dynamic size
};

// The inputs, in forward() order, that the generated source `wrapper` checks.
// Empty when it holds no input checks this parser reads.
std::vector<AotiInput> ParseAotiInputChecks(const std::string& wrapper);

// The input checks of the package `package` (its bytes, or its path when the
// bytes are null). nullopt when the archive cannot be read or holds no
// wrapper source with input checks (a package built without its source).
std::optional<std::vector<AotiInput>> ReadAotiInputChecks(const ModelSource& package);

// What the job hands the model for one input dataset.
struct ModelFeed {
  std::string dataset;
  DType stored = DType::kFloat32;  // in the file
  DType dtype = DType::kFloat32;   // after input.dtype, or the precision's cast
  Shape row_shape;                 // after input.layout
};

// "" when a package with `inputs` takes `feeds` in the job's `batches`;
// otherwise what it expects, what the job gives, and the key that fixes it
// (input.dtype, input.scale, precision, input.layout, batch_size, or how to
// export the package again). `options` say how the job converts its inputs.
std::string AotiInputMismatch(const std::vector<AotiInput>& inputs, const std::vector<ModelFeed>& feeds,
                              const BatchSizes& batches, const EngineOptions& options);

// Sets AOTI_RUNTIME_CHECK_INPUTS=1 for its lifetime, then restores what was
// there. A package reads the variable once, on its first run, into a static
// of its own loaded library (each loader loads its own copy), so a package
// loaded and first run inside this scope checks every input, and one first
// run outside it checks none. Only while no other thread reads the
// environment (the device prewarm has finished).
class AotiInputChecksOn {
 public:
  AotiInputChecksOn();
  ~AotiInputChecksOn();
  AotiInputChecksOn(const AotiInputChecksOn&) = delete;
  AotiInputChecksOn& operator=(const AotiInputChecksOn&) = delete;

 private:
  std::optional<std::string> before_;
};

}  // namespace mpsbatch
