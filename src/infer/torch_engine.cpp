// libtorch implementation of Engine. No spdlog here (see engine.h).
#include <ATen/Parallel.h>
#include <c10/core/DeviceGuard.h>
#include <c10/core/Event.h>
#include <c10/core/StreamGuard.h>
#include <c10/core/impl/VirtualGuardImpl.h>
#include <fcntl.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/cuda.h>
#include <torch/mps.h>
#include <torch/script.h>
#include <torch/version.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <sstream>
#include <tuple>
#include <vector>

#if MPSBATCH_WITH_AOTI
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#endif

#include "common/error.h"
#include "common/file_identity.h"
#include "infer/aoti_signature.h"
#include "infer/bytes_reader.h"
#include "infer/cuda_graph.h"
#include "infer/engine.h"
#include "infer/torch_types.h"

namespace mpsbatch {

const char* DeviceKindName(DeviceKind k) {
  switch (k) {
    case DeviceKind::kCpu: return "cpu";
    case DeviceKind::kCuda: return "cuda";
    case DeviceKind::kMps: return "mps";
  }
  return "?";
}

std::string LibtorchVersion() { return TORCH_VERSION; }

bool EngineSupportsAoti() { return MPSBATCH_WITH_AOTI; }

namespace {

// Torch's messages carry C++ and TorchScript tracebacks. An exception raised
// in the model ends with its Python line ("builtins.RuntimeError: ..."): keep
// that; otherwise keep the head.
std::string Brief(const std::string& msg) {
  std::istringstream in(msg);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    if (line.find_first_not_of(" \t") != std::string::npos) lines.push_back(line);
  if (lines.empty()) return msg;
  if (msg.find("Traceback of TorchScript") != std::string::npos) return lines.back();
  std::string out;
  for (size_t n = 0; n < lines.size() && n < 8; ++n) out += (n ? "\n  " : "") + lines[n];
  return out;
}

std::string Brief(const c10::Error& e) { return Brief(e.what_without_backtrace()); }

// Calibration's time budget ran out before a path.
class BudgetRanOut : public ModelError {
 public:
  BudgetRanOut() : ModelError("calibration_seconds ran out before this path") {}
};

// Records on `timing` why the exception in flight rejects its path.
void Reject(PathTiming& timing) {
  try {
    throw;
  } catch (const BudgetRanOut& e) {
    timing.rejected = e.what();
    timing.for_now = true;
  } catch (const c10::OutOfMemoryError& e) {
    timing.rejected = Brief(e);
    timing.for_now = true;
  } catch (const c10::Error& e) {
    timing.rejected = Brief(e);
  } catch (const std::exception& e) {
    timing.rejected = Brief(e.what());
    // Guarded turns torch's out-of-memory into a DeviceError, and only that.
    timing.for_now = dynamic_cast<const DeviceError*>(&e) != nullptr;
  }
}

std::string ShapesOf(const std::vector<ArrayView>& inputs) {
  std::string s;
  for (const auto& v : inputs)
    s += (s.empty() ? "" : ", ") + ShapeString(v.shape) + " " + std::string(DTypeName(v.dtype));
  return s;
}

torch::Device PickDevice(const EngineOptions& o) {
  const bool mps = torch::mps::is_available();
  const bool cuda = torch::cuda::is_available();
  DeviceKind kind = DeviceKind::kCpu;
  switch (o.device) {
    case DeviceRequest::kAuto: kind = mps ? DeviceKind::kMps : cuda ? DeviceKind::kCuda : DeviceKind::kCpu; break;
    case DeviceRequest::kCpu: kind = DeviceKind::kCpu; break;
    case DeviceRequest::kCuda:
      if (!cuda)
        throw DeviceError("device: cuda was asked for, but this host has no CUDA device that libtorch " +
                          LibtorchVersion() + " can use (only device: auto falls back to cpu)");
      kind = DeviceKind::kCuda;
      break;
    case DeviceRequest::kMps:
      if (!mps)
        throw DeviceError(
            "device: mps was asked for, but Apple MPS is not available on this host "
            "(only device: auto falls back to cpu)");
      kind = DeviceKind::kMps;
      break;
  }
  if (kind == DeviceKind::kCuda) {
    const int count = static_cast<int>(torch::cuda::device_count());
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(o.local_rank % count));
  }
  if (kind == DeviceKind::kMps) return torch::Device(torch::kMPS);
  return torch::Device(torch::kCPU);
}

void SetThreads(int threads) {
  // Inter-op threads can be set once per process, before any parallel work.
  static std::once_flag once;
  std::call_once(once, [] {
    try {
      at::set_num_interop_threads(1);
    } catch (const c10::Error&) {
    }
  });
  at::set_num_threads(std::max(1, threads));
}

// Runs forward() one way: a module as loaded, frozen, or an AOTInductor package.
class Forward {
 public:
  virtual ~Forward() = default;
  virtual TensorList Run(const TensorList& inputs) = 0;
  // True if 4-D inputs should reach it channels-last in memory.
  virtual bool channels_last() const { return false; }
};

TensorList Unpack(const torch::jit::IValue& out) {
  TensorList outs;
  auto take = [&](const torch::jit::IValue& v) {
    if (!v.isTensor()) throw ModelError("the model returned a " + v.tagKind() + " where mpsbatch expects a tensor");
    outs.push_back(v.toTensor());
  };
  if (out.isTuple()) {
    for (const auto& v : out.toTupleRef().elements()) take(v);
  } else if (out.isList()) {
    for (const auto& v : out.toList()) take(v);
  } else {
    take(out);
  }
  return outs;
}

class ScriptForward : public Forward {
 public:
  ScriptForward(torch::jit::Module module, bool channels_last)
      : module_(std::move(module)), channels_last_(channels_last) {}

  TensorList Run(const TensorList& inputs) override {
    std::vector<torch::jit::IValue> args(inputs.begin(), inputs.end());
    return Unpack(module_.forward(args));
  }
  bool channels_last() const override { return channels_last_; }

 private:
  torch::jit::Module module_;
  bool channels_last_;
};

torch::jit::Module LoadScript(const ModelSource& src, torch::Device device, Precision precision) {
  torch::jit::Module module;
  try {
    if (src.bytes) {
      module = torch::jit::load(std::make_shared<BytesReader>(src.bytes), device);
    } else {
      module = torch::jit::load(src.path, device);
    }
  } catch (const c10::Error& e) {
    throw ModelError(src.path + ": not a loadable TorchScript model: " + Brief(e));
  }
  module.eval();
  if (precision != Precision::kFp32) {
    // Only floating state changes dtype: integer buffers (position ids,
    // counters) must keep theirs.
    const auto dtype = ScalarTypeOf(PrecisionDType(precision));
    for (auto p : module.parameters())
      if (p.is_floating_point()) p.set_data(p.to(dtype));
    for (auto b : module.buffers())
      if (b.is_floating_point()) b.set_data(b.to(dtype));
  }
  return module;
}

// torch.jit.freeze + optimize_for_inference (constant folding, conv-batchnorm
// folding, fusion), optionally with 4-D weights in channels-last order.
std::unique_ptr<Forward> MakeFrozen(const torch::jit::Module& module, bool channels_last) {
  torch::jit::Module copy = module.clone();
  copy.eval();
  if (channels_last)
    for (auto p : copy.parameters())
      if (p.dim() == 4) p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
  torch::jit::Module frozen = torch::jit::optimize_for_inference(copy);
  return std::make_unique<ScriptForward>(std::move(frozen), channels_last);
}

#if MPSBATCH_WITH_AOTI
class AotiForward : public Forward {
 public:
  AotiForward(const ModelSource& src, torch::Device device) {
    std::string path = src.path;
    OpenFile same;  // the job's file, if it is still the one whose bytes we hold
    if (src.bytes) path = same.OpenIfSame(src) ? same.proc_path() : temp_.Write(*src.bytes);
    try {
      c10::OptionalDeviceGuard guard;
      if (device.is_cuda()) guard.reset_device(device);
      loader_ = std::make_unique<torch::inductor::AOTIModelPackageLoader>(
          path, "model", false, 1, device.is_cuda() ? device.index() : static_cast<c10::DeviceIndex>(-1));
    } catch (const c10::Error& e) {
      throw ModelError(src.path + ": not a loadable AOTInductor package: " + Brief(e));
    } catch (const std::exception& e) {
      throw ModelError(src.path + ": not a loadable AOTInductor package: " + e.what());
    }
  }

  TensorList Run(const TensorList& inputs) override {
    std::vector<torch::Tensor> args(inputs.begin(), inputs.end());
    return loader_->run(args);
  }

 private:
  // The job's own package file, opened once and checked by its descriptor
  // (FileIdentityOfOpenFile), so that the loader, given /proc/self/fd/N,
  // opens that very file even if the path is renamed over meanwhile. Linux
  // only; elsewhere the bytes go to a temporary file.
  struct OpenFile {
    int fd = -1;
    bool OpenIfSame(const ModelSource& src) {
#if defined(__linux__)
      if (src.identity.empty()) return false;
      fd = ::open(src.path.c_str(), O_RDONLY | O_CLOEXEC);
      return fd >= 0 && FileIdentityOfOpenFile(fd) == src.identity;
#else
      return false;
#endif
    }
    std::string proc_path() const { return "/proc/self/fd/" + std::to_string(fd); }
    ~OpenFile() {
      if (fd >= 0) ::close(fd);
    }
  };
  // A package received as bytes must lie in a file for the loader; the file
  // lives as long as the runner.
  struct TempFile {
    std::string path;
    std::string Write(const std::string& bytes) {
      std::error_code ec;
      const auto dir = std::filesystem::temp_directory_path(ec);
      if (ec) throw ModelError("cannot find a folder for a temporary copy of the model: " + ec.message());
      std::string tmpl = (dir / "mpsbatch-model-XXXXXX.pt2").string();
      int fd = mkstemps(tmpl.data(), 4);
      if (fd < 0)
        throw ModelError("cannot create a temporary file for the model: " + std::string(std::strerror(errno)));
      path = tmpl;
      FILE* f = fdopen(fd, "wb");
      bool ok = f && std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
      if (f) ok = (std::fclose(f) == 0) && ok;
      if (!ok) throw ModelError("cannot write the model to " + path);
      return path;
    }
    ~TempFile() {
      if (!path.empty()) std::remove(path.c_str());
    }
  } temp_;
  std::unique_ptr<torch::inductor::AOTIModelPackageLoader> loader_;
};
#endif

std::unique_ptr<Forward> MakeAoti(const ModelSource& src, torch::Device device) {
#if MPSBATCH_WITH_AOTI
  return std::make_unique<AotiForward>(src, device);
#else
  throw ModelError(src.path + ": AOTInductor packages (.pt2) need libtorch >= 2.6; this build has " +
                   LibtorchVersion() + ". Export TorchScript (.pt) instead.");
#endif
}

bool IsAotiPackage(const std::string& path) {
  return path.size() >= 4 && path.compare(path.size() - 4, 4, ".pt2") == 0;
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// How far `got` may be from `want` (the eager path's outputs) for a path to
// count as computing the same thing: a fraction of the output's largest
// magnitude for floating outputs, of the elements for integer ones.
std::string Disagreement(const std::vector<HostArray>& want, const std::vector<HostArray>& got, Precision precision) {
  if (want.size() != got.size())
    return "returns " + std::to_string(got.size()) + " outputs, eager " + std::to_string(want.size());
  const double tolerance = precision == Precision::kFp32 ? 1e-3 : 5e-2;
  for (size_t o = 0; o < want.size(); ++o) {
    if (want[o].shape != got[o].shape || want[o].dtype != got[o].dtype)
      return "output " + std::to_string(o) + " is " + ShapeString(got[o].shape) + ", eager's " +
             ShapeString(want[o].shape);
    const auto opts = torch::TensorOptions().dtype(ScalarTypeOf(want[o].dtype));
    auto a = torch::from_blob(const_cast<std::byte*>(want[o].bytes.data()), want[o].shape, opts).to(torch::kFloat64);
    auto b = torch::from_blob(const_cast<std::byte*>(got[o].bytes.data()), got[o].shape, opts).to(torch::kFloat64);
    if (a.numel() == 0) continue;
    const bool both_finite = torch::equal(torch::isfinite(a), torch::isfinite(b));
    if (!both_finite) return "output " + std::to_string(o) + " has NaN or Inf where eager's has not, or the reverse";
    a = torch::nan_to_num(a, 0, 0, 0);
    b = torch::nan_to_num(b, 0, 0, 0);
    if (IsFloating(want[o].dtype)) {
      const double scale = a.abs().max().item<double>() + 1e-6;
      const double diff = (a - b).abs().max().item<double>();
      if (diff > tolerance * scale) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "output %zu differs from eager's by up to %.3g (%.2g of its largest value)", o,
                      diff, diff / scale);
        return buf;
      }
    } else {
      const double differ = a.ne(b).to(torch::kFloat64).mean().item<double>();
      if (differ > 0.01)
        return "output " + std::to_string(o) + ": " + std::to_string(static_cast<int>(differ * 100)) +
               "% of values differ from eager's";
    }
  }
  return "";
}

// One batch between Start and Finish.
struct InFlight {
  TensorList host;                 // CUDA: outputs on their way to pinned host memory
  std::optional<c10::Event> done;  // CUDA: recorded after the copies back
  std::vector<HostArray> ready;    // CPU, MPS: the outputs, done
  std::string shapes;              // the inputs, for messages
};

// A host tensor of a type StoredDType returns.
HostArray ToHostArray(const torch::Tensor& host) {
  auto c = host.contiguous();
  HostArray a(*DTypeOf(c.scalar_type()), Shape(c.sizes().begin(), c.sizes().end()));
  if (!a.bytes.empty()) std::memcpy(a.bytes.data(), c.data_ptr(), a.bytes.size());
  return a;
}

// PrewarmDevice's work, if started: the whole of it, and its first part (the
// device's context).
std::mutex g_prewarm_mutex;
std::shared_future<void> g_prewarm;
std::shared_future<void> g_prewarm_context;

std::shared_future<void> Prewarm(bool context_only) {
  std::lock_guard<std::mutex> lock(g_prewarm_mutex);
  return context_only ? g_prewarm_context : g_prewarm;
}

// Waits for the device's context, if PrewarmDevice is bringing it up. (Its
// thread may still be warming CUDA's libraries: that overlaps loading the
// model.)
void WaitForDeviceContext() {
  if (auto f = Prewarm(true); f.valid()) f.wait();
}

}  // namespace

void WaitForDevicePrewarm() {
  if (auto f = Prewarm(false); f.valid()) f.wait();
}

namespace {

class TorchEngine : public Engine {
 public:
  TorchEngine(const ModelSource& src, const EngineOptions& o, std::optional<ModelSource> compiled)
      : options_(o), device_((WaitForDeviceContext(), PickDevice(o))), source_(src), compiled_(std::move(compiled)) {
    SetThreads(o.threads);
    if (!src.bytes && !std::filesystem::is_regular_file(src.path))
      throw ModelError(src.path + ": model file not found");
    if (IsAotiPackage(src.path)) {
      AddPath("aoti", MakeAoti(src, device_));
    } else {
      script_ = LoadScript(src, device_, o.precision);
      AddPath("eager", std::make_unique<ScriptForward>(script_, false));
    }
    active_ = paths_.front().second.get();
    active_name_ = paths_.front().first;
    if (device_.is_cuda()) {
      UsePinnedHostBlocks(device_.index());
      c10::impl::VirtualGuardImpl impl(device_.type());
      copy_stream_ = impl.getStreamFromGlobalPool(device_);
      compute_stream_ = impl.getStreamFromGlobalPool(device_);
      while (*compute_stream_ == *copy_stream_) compute_stream_ = impl.getStreamFromGlobalPool(device_);
    }
  }

  ~TorchEngine() override { Abandon(); }

  size_t max_in_flight() const override { return device_.is_cuda() ? 2 : 1; }
  size_t in_flight() const override { return in_flight_.size(); }

  void Start(const std::vector<ArrayView>& inputs) override {
    if (in_flight_.size() >= max_in_flight()) throw InternalError("engine: too many batches in flight");
    // The first batch (rank 0's probe) waits for the prewarm thread to be
    // done with cuDNN and cuBLAS: no batch ever runs beside it. (Loading the
    // model, before, still overlaps the warming.)
    if (!prewarm_joined_) {
      WaitForDevicePrewarm();
      prewarm_joined_ = true;
    }
    InFlight f;
    f.shapes = ShapesOf(inputs);
    Guarded(f.shapes, [&] {
      c10::InferenceMode guard;
      const int64_t rows = inputs.empty() ? 0 : inputs.front().shape.at(0);
      if (device_.is_cuda()) {
        StartCuda(inputs, rows, f);
      } else {
        TensorList raw;
        for (const auto& v : inputs) raw.push_back(ToDevice(v));
        for (auto& y : Step(rows, raw)) f.ready.push_back(ToHostArray(y.to(torch::kCPU)));
      }
    });
    in_flight_.push_back(std::move(f));
  }

  std::vector<HostArray> Finish() override {
    if (in_flight_.empty()) throw InternalError("engine: Finish with nothing in flight");
    InFlight f = std::move(in_flight_.front());
    in_flight_.pop_front();
    std::vector<HostArray> out = std::move(f.ready);
    Guarded(f.shapes, [&] {
      if (f.done) f.done->synchronize();
      for (auto& h : f.host) out.push_back(ToHostArray(h));
    });
    return out;
  }

  void Abandon() override {
    for (auto& f : in_flight_) {
      try {
        if (f.done) f.done->synchronize();
      } catch (const c10::Error&) {
      }
    }
    in_flight_.clear();
  }

  void CheckInputs(const std::vector<ArrayView>& probe, const BatchSizes& batches) override {
    std::string mismatch;
    if (IsAotiPackage(source_.path)) mismatch = PackageMismatch(source_, "model.path", probe, batches);
    // Under path: auto a model.compiled that does not fit is only a path
    // calibration rejects (Select checks it again).
    if (mismatch.empty() && compiled_ && options_.path == PathRequest::kAoti)
      mismatch = PackageMismatch(*compiled_, "model.compiled", probe, batches);
    if (!mismatch.empty()) throw ModelError(mismatch);
  }

  Calibration Calibrate(const std::vector<ArrayView>& batch, double budget_seconds) override {
    return Select(batch, budget_seconds, "");
  }

  Calibration Adopt(const std::string& path, const std::vector<ArrayView>& batch) override {
    return Select(batch, 0, path);
  }

  DeviceKind device_kind() const override {
    if (device_.is_cuda()) return DeviceKind::kCuda;
    if (device_.is_mps()) return DeviceKind::kMps;
    return DeviceKind::kCpu;
  }

  std::string device_name() const override { return device_.str(); }
  std::string device_model() const override { return device_.is_cuda() ? CudaDeviceModel(device_.index()) : ""; }
  std::string format() const override { return IsAotiPackage(source_.path) ? "aoti" : "torchscript"; }

 private:
  // Calibrate and Adopt: `adopt` names the one path to build ("" to choose).
  Calibration Select(const std::vector<ArrayView>& batch, double budget_seconds, const std::string& adopt);

  void AddPath(const std::string& name, std::unique_ptr<Forward> forward) {
    paths_.emplace_back(name, std::move(forward));
  }

  Forward* FindPath(const std::string& name) {
    for (auto& [n, f] : paths_)
      if (n == name) return f.get();
    return nullptr;
  }

  // What the job hands the model for input `i`, of which `v` holds rows.
  ModelFeed FeedOf(const ArrayView& v, size_t i) const {
    const auto& names = options_.input_names;
    ModelFeed f{i < names.size() ? names[i] : "input " + std::to_string(i), v.dtype, InputTarget(v.dtype),
                Shape(v.shape.begin() + 1, v.shape.end())};
    if (options_.input_layout == InputLayout::kNhwc && f.row_shape.size() == 3)
      f.row_shape = {f.row_shape[2], f.row_shape[0], f.row_shape[1]};
    return f;
  }

  // "" if `package` takes what the job feeds: what its archive records, or
  // else its own input checks on the probe. Otherwise why not, naming `key`.
  std::string PackageMismatch(const ModelSource& package, const std::string& key, const std::vector<ArrayView>& probe,
                              const BatchSizes& batches) {
    std::vector<ModelFeed> feeds;
    std::string fed;
    for (size_t i = 0; i < probe.size(); ++i) {
      feeds.push_back(FeedOf(probe[i], i));
      fed += (fed.empty() ? "" : ", ") + feeds[i].dataset + " as " + std::string(DTypeName(feeds[i].dtype)) + " rows " +
             ShapeString(feeds[i].row_shape);
    }
    const std::string where = key + " '" + package.path + "': ";
    if (auto inputs = ReadAotiInputChecks(package)) {
      const std::string mismatch = AotiInputMismatch(*inputs, feeds, batches, options_);
      return mismatch.empty() ? "" : where + mismatch;
    }
    const std::string refused = RunWithInputChecks(package, probe, batches);
    if (refused.empty()) return "";
    return where + "the package does not record what it takes, and its own input checks refuse the job's (" + fed +
           "): " + refused +
           "; feed what it was exported for (input.dtype, input.scale, precision, input.layout), or export it with a "
           "dynamic batch (torch.export.Dim) if the batch is what it refuses";
  }

  // Runs `probe` through a fresh load of `package` with AOTInductor's input
  // checks on, and, unless every batch is full, one row fewer (the smaller
  // last batch). "" if both pass; otherwise the package's complaint. A batch
  // of one row is checked as two copies of it: torch.export records 2 as a
  // dynamic batch's lower bound where the example said 1, such packages run
  // 1-row batches, and a CUDA package says which check failed only on stderr.
  std::string RunWithInputChecks(const ModelSource& package, const std::vector<ArrayView>& probe,
                                 const BatchSizes& batches) {
    WaitForDevicePrewarm();  // no other thread reads the environment while it changes
    const int64_t rows = probe.front().shape.at(0);
    AotiInputChecksOn checks_on;
    std::unique_ptr<Forward> checked = MakeAoti(package, device_);
    auto attempt = [&](int64_t n) -> std::string {
      try {
        c10::InferenceMode guard;
        TensorList raw;
        for (ArrayView v : probe) {
          v.shape[0] = n;
          raw.push_back(n == 1 ? at::cat({ToDevice(v), ToDevice(v)}) : ToDevice(v));
        }
        StepWith(*checked, raw);
      } catch (const Error&) {
        throw;
      } catch (const c10::Error& e) {
        return Brief(e);
      } catch (const std::exception& e) {  // the package's own check, rethrown by the runner
        return Brief(e.what());
      }
      return "";
    };
    std::string refused = attempt(rows);
    if (refused.empty() && !batches.uniform && rows > 1) {
      refused = attempt(rows - 1);
      if (!refused.empty()) refused = "a batch of " + std::to_string(rows - 1) + " rows: " + refused;
    }
    return refused;
  }

  // Runs `fn`, turning torch's exceptions into mpsbatch's.
  template <typename Fn>
  void Guarded(const std::string& shapes, Fn&& fn) {
    try {
      fn();
    } catch (const c10::OutOfMemoryError& e) {
      throw DeviceError("out of memory on " + device_name() + " for inputs " + shapes +
                        " (lower batch_size): " + Brief(e));
    } catch (const c10::Error& e) {
      throw ModelError("forward failed for inputs " + shapes + ": " + Brief(e));
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {  // torch::jit::JITException: raised by the model
      throw ModelError("forward failed for inputs " + shapes + ": " + Brief(e.what()));
    }
  }

  // CUDA: rows into pinned memory, across on the copy stream, then the step
  // and the copies back on the compute stream; nothing waits for the device.
  // If anything after the copies were queued throws (forward raises, the
  // device runs out of memory), waits for them: they may read the caller's
  // pinned rows, which the caller frees once Start has thrown.
  void StartCuda(const std::vector<ArrayView>& inputs, int64_t rows, InFlight& f) {
    try {
      QueueCuda(inputs, rows, f);
    } catch (...) {
      try {
        copy_stream_->synchronize();
      } catch (const c10::Error&) {  // the device's own failure: the first error says more
      }
      throw;
    }
  }

  void QueueCuda(const std::vector<ArrayView>& inputs, int64_t rows, InFlight& f) {
    TensorList raw;
    {
      c10::StreamGuard on_copy(*copy_stream_);
      for (const auto& v : inputs) {
        const auto options = torch::TensorOptions().dtype(ScalarTypeOf(v.dtype));
        const size_t bytes = static_cast<size_t>(NumElements(v.shape)) * DTypeSize(v.dtype);
        torch::Tensor pinned;
        if (FromBlockSource(v.data, bytes)) {
          // Rows read into a page-locked block: the device copies them from
          // there (the caller keeps them until Finish).
          pinned = torch::from_blob(const_cast<std::byte*>(v.data), v.shape, options);
        } else {
          pinned = torch::empty(v.shape, options.pinned_memory(true));
          if (bytes) std::memcpy(pinned.data_ptr(), v.data, bytes);
        }
        raw.push_back(pinned.to(device_, /*non_blocking=*/true));
      }
    }
    c10::Event copied(device_.type());
    copied.record(*copy_stream_);
    copied.block(*compute_stream_);
    c10::impl::VirtualGuardImpl impl(device_.type());
    // The inputs were allocated on the copy stream and are used on the
    // compute stream: keep their memory until the compute stream is done.
    for (auto& t : raw) impl.recordDataPtrOnStream(t.storage().data_ptr(), *compute_stream_);
    c10::StreamGuard on_compute(*compute_stream_);
    for (auto& y : Step(rows, raw)) {
      auto host = torch::empty(y.sizes(), y.options().device(torch::kCPU).pinned_memory(true));
      host.copy_(y, /*non_blocking=*/true);
      f.host.push_back(std::move(host));
    }
    f.done.emplace(device_.type());
    f.done->record(*compute_stream_);
  }

  // Host rows -> device tensor as stored (CPU: no copy). MPS has no float64,
  // so that one cast happens on the host.
  torch::Tensor ToDevice(const ArrayView& v) {
    auto t =
        torch::from_blob(const_cast<std::byte*>(v.data), v.shape, torch::TensorOptions().dtype(ScalarTypeOf(v.dtype)));
    if (device_.is_mps() && v.dtype == DType::kFloat64) t = t.to(ScalarTypeOf(InputTarget(v.dtype)));
    return device_.is_cpu() ? t : t.to(device_);
  }

  DType InputTarget(DType stored) const {
    if (options_.input_dtype) return *options_.input_dtype;
    if (IsFloating(stored) || Normalises()) return PrecisionDType(options_.precision);
    return stored;
  }

  bool Normalises() const {
    return options_.input_scale || !options_.input_mean.empty() || !options_.input_std.empty();
  }

  // On the device: cast, scale, layout, mean and std. Narrow inputs (uint8
  // images) crossed the bus narrow.
  torch::Tensor Prepare(const torch::Tensor& raw, bool channels_last) {
    auto t = raw.to(ScalarTypeOf(InputTarget(*DTypeOf(raw.scalar_type()))));
    if (options_.input_scale) t = t * *options_.input_scale;
    if (options_.input_layout == InputLayout::kNhwc && t.dim() == 4) t = t.permute({0, 3, 1, 2});
    if (!options_.input_mean.empty()) t = t - PerChannel(0, options_.input_mean, t);
    if (!options_.input_std.empty()) t = t / PerChannel(1, options_.input_std, t);
    if (t.dim() == 4 && channels_last) return t.contiguous(at::MemoryFormat::ChannelsLast);
    return t.contiguous();
  }

  // `values` as a device tensor shaped to broadcast over dimension 1 of `like`.
  // Made once per kind, dtype and rank: a copy from the host inside the step
  // would stall the stream (and cannot be captured in a CUDA graph).
  torch::Tensor PerChannel(int kind, const std::vector<double>& values, const torch::Tensor& like) {
    auto key = std::make_tuple(kind, like.scalar_type(), like.dim());
    auto it = per_channel_.find(key);
    if (it != per_channel_.end()) return it->second;
    std::vector<int64_t> shape(static_cast<size_t>(like.dim()), 1);
    if (like.dim() > 1) shape[1] = static_cast<int64_t>(values.size());
    auto t = torch::tensor(values, torch::TensorOptions().dtype(torch::kFloat64)).to(like.scalar_type()).view(shape);
    t = t.to(device_);
    if (device_.is_cuda()) c10::impl::VirtualGuardImpl(device_.type()).synchronizeDevice(device_.index());
    return per_channel_[key] = t;
  }

  // Device inputs as stored -> device outputs in the types they are stored
  // in (StoredDType), by `forward`.
  TensorList StepWith(Forward& forward, const TensorList& raw) {
    TensorList xs;
    for (const auto& r : raw) xs.push_back(Prepare(r, forward.channels_last()));
    TensorList ys = forward.Run(xs);
    for (size_t i = 0; i < ys.size(); ++i) {
      auto& y = ys[i];
      if (y.dim() == 0) throw ModelError("the model returned a 0-d tensor; each output needs a batch dimension");
      y = y.to(ScalarTypeOf(StoredDType(y.scalar_type(), options_.output_dtype, OutputName(i))));
    }
    return ys;
  }

  // "output 1 ('z')", for messages.
  std::string OutputName(size_t i) const {
    const auto& names = options_.output_names;
    return "output " + std::to_string(i) + (i < names.size() ? " ('" + names[i] + "')" : "");
  }

  // The step by the path chosen for `rows`-row batches.
  TensorList Step(int64_t rows, const TensorList& raw) {
    if (graph_ && rows == graph_rows_) return graph_->Replay(raw);
    return StepWith(*active_, raw);
  }

  EngineOptions options_;
  torch::Device device_;
  ModelSource source_;
  std::optional<ModelSource> compiled_;
  torch::jit::Module script_;                                            // as loaded (TorchScript models)
  std::vector<std::pair<std::string, std::unique_ptr<Forward>>> paths_;  // built so far
  Forward* active_ = nullptr;                                            // batches of any size
  std::string active_name_;
  std::unique_ptr<CapturedStep> graph_;  // batches of graph_rows_ rows, when chosen
  int64_t graph_rows_ = -1;
  bool prewarm_joined_ = false;                              // see Start
  std::optional<c10::Stream> copy_stream_, compute_stream_;  // CUDA
  std::deque<InFlight> in_flight_;
  std::map<std::tuple<int, c10::ScalarType, int64_t>, torch::Tensor> per_channel_;  // see PerChannel
};

Calibration TorchEngine::Select(const std::vector<ArrayView>& batch, double budget_seconds, const std::string& adopt) {
  // The prewarm thread's last CUDA work would otherwise run beside the timing
  // and beside a capture's sync-debug check (its own .item()).
  WaitForDevicePrewarm();
  const auto t0 = std::chrono::steady_clock::now();
  Calibration c;
  c.batch_rows = batch.front().shape.at(0);
  // Adopting another rank's choice forces it, as path: would.
  const PathRequest want = adopt.empty() ? options_.path : PathRequest::kEager;
  const bool script = !IsAotiPackage(source_.path);
  const bool graphs = device_.is_cuda() && CudaGraphsAvailable();
  // The paths to try, in order; cudagraph comes last, over the best other.
  std::vector<std::string> names;
  bool want_graph = graphs && (want == PathRequest::kAuto || want == PathRequest::kCudaGraph);
  if (!adopt.empty()) {
    want_graph = adopt.rfind("cudagraph(", 0) == 0 && adopt.back() == ')';
    names.push_back(want_graph ? adopt.substr(10, adopt.size() - 11) : adopt);
    if (want_graph && !graphs) throw DeviceError("cannot build path " + adopt + " on " + device_name());
  } else {
    auto offer = [&](const std::string& name, PathRequest as) {
      if (want == PathRequest::kAuto || want == as) names.push_back(name);
    };
    bool four_d = false;
    for (const auto& v : batch) four_d = four_d || v.shape.size() == 4;
    if (script) {
      offer("eager", PathRequest::kEager);
      offer("frozen", PathRequest::kFrozen);
      if (four_d && !device_.is_cpu()) offer("frozen+channels_last", PathRequest::kFrozen);
    }
    if (!script || compiled_) offer("aoti", PathRequest::kAoti);
    if (want == PathRequest::kCudaGraph && !graphs)
      throw DeviceError("path: cudagraph needs a CUDA device and a CUDA libtorch; this rank runs on " + device_name());
  }

  // What every path must agree with: the model as loaded.
  graph_.reset();
  active_ = paths_.front().second.get();
  active_name_ = paths_.front().first;
  const std::vector<HostArray> reference = Run(batch);

  const size_t planned = names.size() + (want_graph ? 1 : 0);
  // Timing each path for a fifth of a second at most tells paths apart that
  // differ by more than a few percent; more would cost the job real time.
  auto share = [&](size_t left) { return std::clamp((budget_seconds - Seconds(t0)) / (3.0 * left), 0.02, 0.2); };
  // A forced path is built and checked, not timed, unless it has variants to
  // choose between (path: frozen, with and without channels-last).
  const bool timed = adopt.empty() && (want == PathRequest::kAuto || names.size() > 1);
  const bool forced_graph = want == PathRequest::kCudaGraph || (want_graph && !adopt.empty());
  std::string best;
  double best_rate = -1;
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string& name = names[i];
    PathTiming timing{name, 0, ""};
    try {
      if (timed && Seconds(t0) > budget_seconds) throw BudgetRanOut();
      Forward* forward = FindPath(name);
      if (!forward) {
        if (name == "frozen") AddPath(name, MakeFrozen(script_, false));
        if (name == "frozen+channels_last") AddPath(name, MakeFrozen(script_, true));
        if (name == "aoti") {
          if (!compiled_) throw ModelError("no AOTInductor package to build path aoti from");
          // Fed what it was not exported for, a package computes garbage or
          // aborts the process inside a kernel: check before its first run.
          const std::string mismatch = PackageMismatch(*compiled_, "model.compiled", batch, {c.batch_rows, true});
          if (!mismatch.empty()) throw ModelError(mismatch);
          AddPath(name, MakeAoti(*compiled_, device_));
        }
        forward = FindPath(name);
        if (!forward) throw ModelError("unknown path '" + name + "'");
      }
      active_ = forward;
      active_name_ = name;
      const std::string differs = Disagreement(reference, Run(batch), options_.precision);
      if (!differs.empty()) throw ModelError(differs);
      if (timed) timing.rows_per_second = MeasureRowsPerSecond(*this, batch, share(planned - i));
    } catch (...) {
      Reject(timing);
    }
    Abandon();
    if (timing.rejected.empty() && (best.empty() || timing.rows_per_second > best_rate)) {
      best_rate = timing.rows_per_second;
      best = name;
    }
    c.paths.push_back(timing);
  }
  if (best.empty()) {
    if (!adopt.empty()) throw ModelError("path " + adopt + " cannot run here: " + c.paths.back().rejected);
    if (want != PathRequest::kAuto && want != PathRequest::kCudaGraph)
      throw ModelError("path: " + std::string(PathRequestName(want)) +
                       " cannot run this model: " + c.paths.back().rejected);
    // Auto keeps the model as loaded, which the probe already ran.
    best = paths_.front().first;
  }
  active_ = FindPath(best);
  active_name_ = best;
  c.chosen = best;
  c.rows_per_second = std::max(0.0, best_rate);

  if (want_graph) {
    PathTiming timing{"cudagraph", 0, ""};
    bool captured = false;
    try {
      if (timed && Seconds(t0) > budget_seconds) throw BudgetRanOut();
      TensorList example;
      {
        c10::InferenceMode guard;
        for (const auto& v : batch) example.push_back(ToDevice(v));
      }
      c10::StreamGuard on_compute(*compute_stream_);
      Forward* base = active_;
      {
        c10::InferenceMode guard;
        graph_ = CaptureCudaGraph([this, base](const TensorList& raw) { return StepWith(*base, raw); }, example);
      }
      captured = true;
      graph_rows_ = c.batch_rows;
      const std::string differs = Disagreement(reference, Run(batch), options_.precision);
      if (!differs.empty()) throw ModelError(differs);
      if (timed) timing.rows_per_second = MeasureRowsPerSecond(*this, batch, share(1));
    } catch (...) {
      Reject(timing);
      // AOTInductor's runner reports only "run_func_(...) API call failed at
      // <its source file>, line N": say what it means instead.
      if (active_name_ == "aoti" && !captured && !timing.for_now)
        timing.rejected = "an AOTInductor package's run cannot be captured in a CUDA graph";
    }
    Abandon();
    timing.path = "cudagraph(" + active_name_ + ")";
    c.paths.push_back(timing);
    if (timing.rejected.empty() && (forced_graph || timing.rows_per_second > best_rate)) {
      c.chosen = timing.path;
      c.rows_per_second = timing.rows_per_second;
    } else {
      graph_.reset();
      graph_rows_ = -1;
      if (forced_graph) throw ModelError("path: cudagraph cannot capture this model: " + timing.rejected);
    }
  }
  c.seconds = Seconds(t0);
  c.timed = c.rows_per_second > 0;
  // Paths built but not chosen hold a copy of the weights each: keep only the
  // model as loaded (the reference for later calls) and the chosen one.
  const Forward* loaded = paths_.front().second.get();
  std::erase_if(paths_, [&](const auto& p) { return p.second.get() != loaded && p.second.get() != active_; });
  return c;
}

}  // namespace

std::vector<HostArray> Engine::Run(const std::vector<ArrayView>& inputs) {
  if (in_flight() != 0) throw InternalError("engine: Run with batches in flight");
  Start(inputs);
  return Finish();
}

void PrewarmDevice(const EngineOptions& options) {
  std::lock_guard<std::mutex> lock(g_prewarm_mutex);
  if (g_prewarm.valid()) return;
  auto context = std::make_shared<std::promise<void>>();
  g_prewarm_context = context->get_future().share();
  g_prewarm = std::async(std::launch::async, [options, context] {
                bool context_up = false;
                auto signal = [&] {  // once, whatever happens below
                  if (!context_up) context->set_value();
                  context_up = true;
                };
                try {
                  const torch::Device device = PickDevice(options);
                  if (!device.is_cpu()) {
                    c10::InferenceMode guard;
                    // A kernel and a copy back: the context, the allocator and
                    // the kernel loader are up once this returns.
                    (void)torch::ones({1}, torch::TensorOptions().device(device)).sum().item<float>();
                  }
                  signal();
                  if (device.is_cuda()) {
                    // Then, while the main thread loads the model, cuDNN and
                    // cuBLAS (their libraries, handles and first kernels): 0.3 s
                    // of the first batch of ResNet-50 on the H100 otherwise.
                    c10::InferenceMode guard;
                    const auto o =
                        torch::TensorOptions().device(device).dtype(ScalarTypeOf(PrecisionDType(options.precision)));
                    const auto x = torch::ones({1, 3, 8, 8}, o), w = torch::ones({4, 3, 3, 3}, o);
                    (void)torch::conv2d(x, w).sum().item<float>();
                    const auto a = torch::ones({8, 8}, o);
                    (void)torch::mm(a, a).sum().item<float>();
                  }
                } catch (...) {
                  // Engine::Create meets the same problem and reports it.
                }
                signal();
              }).share();
}

double MeasureRowsPerSecond(Engine& engine, const std::vector<ArrayView>& batch, double seconds) {
  const int64_t rows = batch.front().shape.at(0);
  engine.Run(batch);  // warm-up: the JIT's profiling run, the allocator, cuDNN's choices
  const auto t0 = std::chrono::steady_clock::now();
  int n = 0;
  while (n < 3 || (n < 50 && Seconds(t0) < seconds)) {
    if (engine.in_flight() == engine.max_in_flight()) engine.Finish();
    engine.Start(batch);
    ++n;
  }
  while (engine.in_flight() > 0) engine.Finish();
  return static_cast<double>(rows) * n / Seconds(t0);
}

std::string Calibration::Summary() const {
  auto rate = [](double r) { return std::to_string(static_cast<int64_t>(r + 0.5)) + " rows/s"; };
  // A forced path is not timed: "frozen (forced; checked in 0.21 s)".
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.2f s", seconds);
  if (!timed) {
    std::string s = chosen + " (untimed; built and checked in " + secs + ")";
    for (const auto& p : paths)
      if (!p.rejected.empty()) s += "; " + p.path + " rejected: " + p.rejected;
    return s;
  }
  std::string s = chosen + " " + rate(rows_per_second) + " at batch " + std::to_string(batch_rows) + " (";
  bool first = true;
  for (const auto& p : paths) {
    s += first ? "" : ", ";
    first = false;
    s += p.path + (p.rejected.empty() ? " " + rate(p.rows_per_second) : ": rejected: " + p.rejected);
  }
  return s + "; calibrated in " + secs + ")";
}

std::unique_ptr<Engine> Engine::Create(const ModelSource& model, const EngineOptions& options,
                                       std::optional<ModelSource> compiled) {
  try {
    return std::make_unique<TorchEngine>(model, options, std::move(compiled));
  } catch (const c10::Error& e) {
    throw DeviceError("cannot set up the device for " + model.path + ": " + Brief(e));
  }
}

}  // namespace mpsbatch
