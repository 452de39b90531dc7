// The engine: one rank's model on one device. This header is the only door to
// libtorch; it includes no torch header, so the rest of mpsbatch compiles
// without torch's include path (and without its fmt, which clashes with
// spdlog's). torch_engine.cpp implements it.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/dtype.h"
#include "config/job.h"

namespace mpsbatch {

enum class DeviceKind { kCpu, kCuda, kMps };
const char* DeviceKindName(DeviceKind k);

struct EngineOptions {
  DeviceRequest device = DeviceRequest::kAuto;  // auto: mps, then cuda, then cpu
  int local_rank = 0;                           // CUDA ranks on one host spread over its GPUs by this
  int threads = 1;                              // intra-op threads of this process
  Precision precision = Precision::kFp32;
  std::optional<DType> input_dtype;  // see JobConfig::Input
  std::optional<double> input_scale;
  DType output_dtype = DType::kFloat32;
};

// Where the model comes from. `path` names it in messages and is read when
// `bytes` is null; ranks that cannot read the path get the bytes from rank 0.
// A path ending in ".pt2" is an AOTInductor package, anything else TorchScript.
struct ModelSource {
  std::string path;
  std::shared_ptr<const std::string> bytes;
};

class Engine {
 public:
  // Picks the device, loads the model onto it in eval mode with the job's
  // precision. Throws ModelError (unreadable or invalid model, .pt2 on a
  // libtorch without AOTInductor) or DeviceError (asked-for device missing).
  static std::unique_ptr<Engine> Create(const ModelSource& model, const EngineOptions& options);

  virtual ~Engine() = default;

  // Runs one batch under inference mode. All inputs have the same shape[0]
  // (the batch); inputs are converted on the device as the options say.
  // Returns one array per model output (a tensor, or each element of a tuple or
  // list), in output_dtype, on the host. Throws ModelError if forward fails or
  // returns something else. One thread at a time per engine.
  virtual std::vector<HostArray> Run(const std::vector<ArrayView>& inputs) = 0;

  virtual DeviceKind device_kind() const = 0;
  // E.g. "cpu", "cuda:1", "mps".
  virtual std::string device_name() const = 0;
  // "torchscript" or "aoti".
  virtual std::string format() const = 0;
};

std::string LibtorchVersion();
// True if this libtorch can load AOTInductor (.pt2) packages.
bool EngineSupportsAoti();

}  // namespace mpsbatch
