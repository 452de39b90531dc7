// The engine: one rank's model on one device. This header is the only door to
// libtorch; it includes no torch header, so the rest of mpsbatch compiles
// without torch's include path (and without its fmt, which clashes with
// spdlog's). engine.cpp implements what needs no torch (mpsbatch_engine, no
// libtorch); torch_engine.h the rest (mpsbatch_torch).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/dtype.h"
#include "config/job.h"

namespace mpsbatch {

class DevicePrewarm;  // infer/prewarm.h

enum class DeviceKind { kCpu, kCuda, kMps };
const char* DeviceKindName(DeviceKind k);

struct EngineOptions {
  DeviceRequest device = DeviceRequest::kAuto;  // auto: mps, then cuda, then cpu
  int local_rank = 0;                           // CUDA ranks on one host spread over its GPUs by this
  int threads = 1;                              // intra-op threads of this process
  Precision precision = Precision::kFp32;
  std::optional<DType> input_dtype;  // see JobConfig::Input
  std::optional<double> input_scale;
  std::vector<double> input_mean;  // see JobConfig::Input
  std::vector<double> input_std;
  InputLayout input_layout = InputLayout::kNchw;
  // output.dtype: every output converted to it. Unset: each output in its
  // own type (StoredDType in torch_types.h).
  std::optional<DType> output_dtype;
  std::vector<std::string> output_names;  // output.datasets, for messages
  std::vector<std::string> input_names;   // input.datasets, for messages
  PathRequest path = PathRequest::kAuto;
};

// The dtype the model gets an input stored as `stored` in: input.dtype if
// set; else the precision's dtype for a floating input, or for any input
// when input.scale, input.mean or input.std is set; else `stored` (integer
// and bool inputs keep their type). See "Input dtypes" in job-reference.md.
DType FedDType(const EngineOptions& options, DType stored);

// The batches a job feeds the model: at most `largest` rows each; with
// `uniform`, every batch has exactly `largest` rows (no smaller last batch).
// `searched`: batch_size is auto, and `largest` is as far as its search goes.
struct BatchSizes {
  int64_t largest = 1;
  bool uniform = false;
  bool searched = false;
};

// What calibration may spend on timing: at most `seconds`
// (calibration_seconds), and at most `share` of the job's expected time (its
// rows over the rate measured so far times its ranks) or `floor_seconds`,
// whichever is more, so that calibrating never costs a short job more than a
// small part of it. Before any rate is known only `seconds` bounds it.
struct CalibrationBudget {
  CalibrationBudget(double seconds = 30) : seconds(seconds) {}  // NOLINT: a plain bound in seconds converts
  double seconds;
  double job_rows = 0;  // 0: no bound by the job's size
  int ranks = 1;
  double share = 0.1;
  double floor_seconds = 0.25;
  double spent = 0;  // seconds already used (the batch-size search, before the paths)

  // Seconds left, given the fastest rate measured so far (rows/s; 0: none).
  double Left(double rows_per_second) const;
};

// One execution path as calibration found it.
struct PathTiming {
  std::string path;            // "eager", "frozen", "frozen+channels_last", "aoti", "cudagraph"
  double rows_per_second = 0;  // measured on the calibration batch; 0 if rejected
  std::string rejected;        // why the path cannot be used; "" if it can
  // Rejected for a reason of the moment (calibration_seconds ran out, the
  // device was out of memory), not for what the path computes.
  bool for_now = false;
};

// The outcome of Engine::Calibrate.
struct Calibration {
  int64_t batch_rows = 0;
  std::string chosen;  // the path batches of batch_rows rows take
  double rows_per_second = 0;
  std::vector<PathTiming> paths;  // every path tried, in the order tried
  double seconds = 0;             // calibration's own time
  bool timed = false;             // false: forced, adopted, or every timed path rejected

  // "cudagraph 81234 rows/s (eager 40312, frozen 41200, aoti: rejected: ...)"
  std::string Summary() const;
};

// Where the model comes from. `path` names it in messages and is read when
// `bytes` is null; ranks that cannot read the path get the bytes from rank 0.
// A path ending in ".pt2" is an AOTInductor package, anything else TorchScript.
struct ModelSource {
  std::string path;
  std::shared_ptr<const std::string> bytes;
  // FileIdentity (common/file_identity.h) of `path` when `bytes` were read
  // from it, "" otherwise: a loader that needs a file (AOTInductor) then
  // opens `path` itself while it is still that file, instead of writing the
  // bytes to a temporary one.
  std::string identity;
};

class Engine {
 public:
  // Picks the device, loads the model onto it in eval mode with the job's
  // precision. Throws ModelError (unreadable or invalid model, .pt2 on a
  // libtorch without AOTInductor) or DeviceError (asked-for device missing).
  // `compiled`, when given, is an AOTInductor package of the same model that
  // calibration may choose (it is loaded then, not here).
  // `prewarm`, when given, is the device's prewarm (infer/prewarm.h), which
  // the engine waits for before it picks the device and before its first
  // batch; it must outlive the engine.
  static std::unique_ptr<Engine> Create(const ModelSource& model, const EngineOptions& options,
                                        std::optional<ModelSource> compiled = std::nullopt,
                                        DevicePrewarm* prewarm = nullptr);

  virtual ~Engine() = default;

  // Batches flow through a pipeline: Start sends one batch's rows to the
  // device and queues the model on it. It copies the rows out of `inputs`
  // first, except on CUDA where they lie in a page-locked block (buffer.h's
  // FromBlockSource): the device copies those itself, so keep them unchanged
  // until the batch's Finish (or Abandon; a Start that throws has waited for
  // its copies). Finish waits for the oldest started batch and returns one
  // array per model output (a tensor, or each element of a tuple or list), in
  // output_dtype or, without one, its own type (see EngineOptions), on the host. On CUDA up to max_in_flight() batches
  // run ahead, so copies and compute overlap the host's work; on CPU and MPS Start does the whole batch. All inputs of
  // a batch have the same shape[0]; they are converted on the device as the options say. Both throw ModelError if
  // forward fails or returns something else, DeviceError when the device runs out of memory; after a throw, call
  // Abandon. One thread at a time per engine.
  virtual void Start(const std::vector<ArrayView>& inputs) = 0;
  virtual std::vector<HostArray> Finish() = 0;
  // Forgets every started batch, waiting for the device to finish them.
  virtual void Abandon() = 0;
  // Call first on a thread that runs batches other than the one that made
  // the engine: libtorch's intra-op thread count (EngineOptions::threads) is
  // OpenMP's and MKL's setting of the thread that set it, and a thread made
  // later starts with their default, every core of the host.
  virtual void UseOnThisThread() {}
  virtual size_t in_flight() const = 0;
  virtual size_t max_in_flight() const = 0;

  // Checks, before any batch runs, that the model takes the job's inputs
  // (`probe`: the first rows, as stored) in `batches`. An AOTInductor package
  // (model.path, or model.compiled where the job's path may take it) is
  // checked against the dtypes, per-row shapes and batch sizes it was
  // exported for; where the package does not record them, `probe` runs once
  // through a copy of it with AOTInductor's own input checks on. A model
  // exported by mpsbatch-export (either format) is first held against what
  // it records it was exported for (export_record.h); any other TorchScript
  // model records nothing: running the probe is its check. Throws ModelError
  // naming the model file, what it expects, what the job gives and the key
  // that fixes it.
  virtual void CheckInputs(const std::vector<ArrayView>& probe, const BatchSizes& batches) = 0;

  // Start + Finish of one batch, with nothing else in flight.
  std::vector<HostArray> Run(const std::vector<ArrayView>& inputs);

  // Adaptive path selection: builds each execution path this engine can
  // offer (or only the one options.path forces), checks that it computes what
  // the eager path computes on `batch` (real rows), times it there, and makes
  // the fastest the path for batches of that many rows; other batch sizes
  // take the fastest path that is not bound to one shape. Stays within about
  // `budget`: a path whose check, warm-up and one timed batch would not fit
  // in what is left is rejected for time (before the first timed path the
  // rate is the reference batch's, eager's first run). A forced path is built
  // and checked but not timed: of its variants (path: frozen on a GPU, with
  // and without channels-last) the first that runs is taken.
  // Throws ModelError or DeviceError when the forced path cannot be built or
  // disagrees with eager.
  virtual Calibration Calibrate(const std::vector<ArrayView>& batch, const CalibrationBudget& budget) = 0;
  // Builds the path another rank's Calibrate chose (Calibration::chosen, on
  // the same kind of device) for batches of `batch`'s size, checked against
  // eager on `batch`, untimed. Throws ModelError or DeviceError if it cannot.
  virtual Calibration Adopt(const std::string& path, const std::vector<ArrayView>& batch) = 0;

  virtual DeviceKind device_kind() const = 0;
  // E.g. "cpu", "cuda:1", "mps".
  virtual std::string device_name() const = 0;
  // The device's model, for keys of stored measurements: "NVIDIA H100 80GB
  // HBM3" on CUDA; "" on CPU and MPS (the host's processor model names those).
  virtual std::string device_model() const = 0;
  // The physical GPU's UUID on CUDA ("GPU-8f6c..."): ranks with the same one
  // share that GPU, whatever each one's CUDA_VISIBLE_DEVICES numbers it. ""
  // on CPU and MPS, and where CUDA cannot say.
  virtual std::string device_uuid() const { return ""; }
  // "torchscript" or "aoti".
  virtual std::string format() const = 0;
};

// Rows per second of `batch` through `engine`'s current path, the pipeline
// kept full, after one warm-up batch: batches until `seconds` pass (at least
// one, at most 50). Nothing may be in flight before.
double MeasureRowsPerSecond(Engine& engine, const std::vector<ArrayView>& batch, double seconds);

std::string LibtorchVersion();
// True if this libtorch can load AOTInductor (.pt2) packages.
bool EngineSupportsAoti();

}  // namespace mpsbatch
