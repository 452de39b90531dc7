// libtorch implementation of Engine. No spdlog here (see engine.h).
#include <ATen/Parallel.h>
#include <c10/core/DeviceGuard.h>
#include <torch/cuda.h>
#include <torch/mps.h>
#include <torch/script.h>
#include <torch/version.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <vector>

#if MPSBATCH_WITH_AOTI
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#endif

#include "common/error.h"
#include "infer/engine.h"

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

c10::ScalarType ScalarTypeOf(DType t) {
  switch (t) {
    case DType::kFloat32: return torch::kFloat32;
    case DType::kFloat64: return torch::kFloat64;
    case DType::kFloat16: return torch::kFloat16;
    case DType::kBFloat16: return torch::kBFloat16;
    case DType::kUInt8: return torch::kUInt8;
    case DType::kInt8: return torch::kInt8;
    case DType::kInt16: return torch::kInt16;
    case DType::kInt32: return torch::kInt32;
    case DType::kInt64: return torch::kInt64;
  }
  throw InternalError("unmapped DType");
}

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

// Runs forward() of one model format.
class Runner {
 public:
  virtual ~Runner() = default;
  virtual std::vector<torch::Tensor> Forward(std::vector<torch::Tensor>& inputs) = 0;
  virtual std::string format() const = 0;
};

class TorchScriptRunner : public Runner {
 public:
  TorchScriptRunner(const ModelSource& src, torch::Device device, Precision precision) {
    try {
      if (src.bytes) {
        std::istringstream in(*src.bytes);
        module_ = torch::jit::load(in, device);
      } else {
        module_ = torch::jit::load(src.path, device);
      }
    } catch (const c10::Error& e) {
      throw ModelError(src.path + ": not a loadable TorchScript model: " + Brief(e));
    }
    module_.eval();
    if (precision != Precision::kFp32) {
      // Only floating state changes dtype: integer buffers (position ids,
      // counters) must keep theirs.
      const auto dtype = ScalarTypeOf(PrecisionDType(precision));
      for (auto p : module_.parameters())
        if (p.is_floating_point()) p.set_data(p.to(dtype));
      for (auto b : module_.buffers())
        if (b.is_floating_point()) b.set_data(b.to(dtype));
    }
  }

  std::vector<torch::Tensor> Forward(std::vector<torch::Tensor>& inputs) override {
    std::vector<torch::jit::IValue> args(inputs.begin(), inputs.end());
    torch::jit::IValue out = module_.forward(args);
    std::vector<torch::Tensor> outs;
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

  std::string format() const override { return "torchscript"; }

 private:
  torch::jit::Module module_;
};

#if MPSBATCH_WITH_AOTI
class AotiRunner : public Runner {
 public:
  AotiRunner(const ModelSource& src, torch::Device device) {
    std::string path = src.path;
    if (src.bytes) path = temp_.Write(*src.bytes);
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

  std::vector<torch::Tensor> Forward(std::vector<torch::Tensor>& inputs) override { return loader_->run(inputs); }

  std::string format() const override { return "aoti"; }

 private:
  // A package received as bytes must lie in a file for the loader; the file
  // lives as long as the runner.
  struct TempFile {
    std::string path;
    std::string Write(const std::string& bytes) {
      std::string tmpl = (std::filesystem::temp_directory_path() / "mpsbatch-model-XXXXXX.pt2").string();
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

bool IsAotiPackage(const std::string& path) {
  return path.size() >= 4 && path.compare(path.size() - 4, 4, ".pt2") == 0;
}

class TorchEngine : public Engine {
 public:
  TorchEngine(const ModelSource& src, const EngineOptions& o) : options_(o), device_(PickDevice(o)) {
    SetThreads(o.threads);
    if (!src.bytes && !std::filesystem::is_regular_file(src.path))
      throw ModelError(src.path + ": model file not found");
    if (IsAotiPackage(src.path)) {
#if MPSBATCH_WITH_AOTI
      runner_ = std::make_unique<AotiRunner>(src, device_);
#else
      throw ModelError(src.path + ": AOTInductor packages (.pt2) need libtorch >= 2.6; this build has " +
                       LibtorchVersion() + ". Export TorchScript (.pt) instead.");
#endif
    } else {
      runner_ = std::make_unique<TorchScriptRunner>(src, device_, o.precision);
    }
  }

  std::vector<HostArray> Run(const std::vector<ArrayView>& inputs) override {
    try {
      c10::InferenceMode guard;
      std::vector<torch::Tensor> xs;
      xs.reserve(inputs.size());
      for (const auto& v : inputs) xs.push_back(Prepare(v));
      std::vector<torch::Tensor> ys = runner_->Forward(xs);
      std::vector<HostArray> out;
      out.reserve(ys.size());
      for (auto& y : ys) out.push_back(ToHost(y));
      return out;
    } catch (const c10::OutOfMemoryError& e) {
      throw DeviceError("out of memory on " + device_name() + " for inputs " + ShapesOf(inputs) +
                        " (lower batch_size): " + Brief(e));
    } catch (const c10::Error& e) {
      throw ModelError("forward failed for inputs " + ShapesOf(inputs) + ": " + Brief(e));
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {  // torch::jit::JITException: raised by the model
      throw ModelError("forward failed for inputs " + ShapesOf(inputs) + ": " + Brief(e.what()));
    }
  }

  DeviceKind device_kind() const override {
    if (device_.is_cuda()) return DeviceKind::kCuda;
    if (device_.is_mps()) return DeviceKind::kMps;
    return DeviceKind::kCpu;
  }

  std::string device_name() const override { return device_.str(); }
  std::string format() const override { return runner_->format(); }

 private:
  // Host rows -> device tensor of the dtype the model gets. The cast runs on
  // the device so narrow inputs (uint8 images) cross the bus narrow; MPS has
  // no float64, so that one cast happens on the host.
  torch::Tensor Prepare(const ArrayView& v) {
    auto t =
        torch::from_blob(const_cast<std::byte*>(v.data), v.shape, torch::TensorOptions().dtype(ScalarTypeOf(v.dtype)));
    DType target = v.dtype;
    if (options_.input_dtype) {
      target = *options_.input_dtype;
    } else if (IsFloating(v.dtype) || options_.input_scale) {
      target = PrecisionDType(options_.precision);
    }
    if (device_.is_mps() && v.dtype == DType::kFloat64) t = t.to(ScalarTypeOf(target));
    t = t.to(device_, ScalarTypeOf(target));
    if (options_.input_scale) t = t * *options_.input_scale;
    return t;
  }

  HostArray ToHost(const torch::Tensor& y) {
    if (y.dim() == 0) throw ModelError("the model returned a 0-d tensor; each output needs a batch dimension");
    auto host = y.to(torch::kCPU).to(ScalarTypeOf(options_.output_dtype)).contiguous();
    HostArray a(options_.output_dtype, Shape(host.sizes().begin(), host.sizes().end()));
    std::memcpy(a.bytes.data(), host.data_ptr(), a.bytes.size());
    return a;
  }

  EngineOptions options_;
  torch::Device device_;
  std::unique_ptr<Runner> runner_;
};

}  // namespace

std::unique_ptr<Engine> Engine::Create(const ModelSource& model, const EngineOptions& options) {
  try {
    return std::make_unique<TorchEngine>(model, options);
  } catch (const c10::Error& e) {
    throw DeviceError("cannot set up the device for " + model.path + ": " + Brief(e));
  }
}

}  // namespace mpsbatch
