// libtorch implementation of Engine: loading the model, the batch pipeline,
// Engine::Create. No spdlog here (see engine.h).
#include "infer/torch_engine.h"

#include <ATen/Parallel.h>

#include <filesystem>

#include "common/buffer.h"
#include "common/error.h"
#include "infer/aoti_forward.h"
#include "infer/script_forward.h"
#include "infer/torch_device.h"
#include "infer/torch_message.h"

namespace mpsbatch {

namespace {

std::string ShapesOf(const std::vector<ArrayView>& inputs) {
  std::string s;
  for (const auto& v : inputs)
    s += (s.empty() ? "" : ", ") + ShapeString(v.shape) + " " + std::string(DTypeName(v.dtype));
  return s;
}

}  // namespace

TorchEngine::TorchEngine(const ModelSource& src, const EngineOptions& o, std::optional<ModelSource> compiled,
                         DevicePrewarm& prewarm)
    : prewarm_(prewarm),
      options_(o),
      device_((prewarm_.WaitForContext(), PickDevice(o))),
      source_(src),
      compiled_(std::move(compiled)),
      preprocess_(options_, device_) {
  SetThreads(o.threads);
  if (!src.bytes && !std::filesystem::is_regular_file(src.path)) throw ModelError(src.path + ": model file not found");
  if (IsAotiPackage(src.path)) {
    std::unordered_map<std::string, std::string> metadata;
    AddPath("aoti", MakeAoti(src, device_, &metadata));
    record_ = ReadExportRecord(metadata, src.path);
  } else {
    std::string record;
    script_ = LoadScript(src, device_, o.precision, &record);
    AddPath("eager", std::make_unique<ScriptForward>(script_, false));
    record_ = ReadExportRecord(ParseRecordLines(record), src.path);
  }
  active_ = paths_.front().second.get();
  active_name_ = paths_.front().first;
  if (device_.is_cuda()) {
    // The engine installs where the process's large host blocks come from
    // (buffer.h): page-locked memory, so that rows read from here on reach
    // the device by DMA. The first CUDA engine's device serves the process.
    if (BlockSource* pinned = PinnedHostBlocks(device_.index())) SetBlockSource(*pinned);
    cuda_.emplace(device_);
  }
}

TorchEngine::~TorchEngine() { Abandon(); }

void TorchEngine::Start(const std::vector<ArrayView>& inputs) {
  if (in_flight_.size() >= max_in_flight()) throw InternalError("engine: too many batches in flight");
  // The first batch (rank 0's probe) waits for the prewarm thread to be
  // done with cuDNN and cuBLAS: no batch ever runs beside it. (Loading the
  // model, before, still overlaps the warming.)
  if (!prewarm_joined_) {
    prewarm_.Wait();
    prewarm_joined_ = true;
  }
  InFlight f;
  f.shapes = ShapesOf(inputs);
  Guarded(f.shapes, [&] {
    c10::InferenceMode guard;
    const int64_t rows = inputs.empty() ? 0 : inputs.front().shape.at(0);
    if (device_.is_cuda()) {
      cuda_->Start(inputs, f, [&](const TensorList& raw) { return Step(rows, raw); });
    } else {
      TensorList raw;
      for (const auto& v : inputs) raw.push_back(preprocess_.ToDevice(v));
      for (auto& y : Step(rows, raw)) f.ready.push_back(ToHostArray(y.to(torch::kCPU)));
    }
  });
  in_flight_.push_back(std::move(f));
}

std::vector<HostArray> TorchEngine::Finish() {
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

void TorchEngine::Abandon() {
  for (auto& f : in_flight_) {
    try {
      if (f.done) f.done->synchronize();
    } catch (const c10::Error&) {
    }
  }
  in_flight_.clear();
}

void TorchEngine::UseOnThisThread() { at::init_num_threads(); }

DeviceKind TorchEngine::device_kind() const {
  if (device_.is_cuda()) return DeviceKind::kCuda;
  if (device_.is_mps()) return DeviceKind::kMps;
  return DeviceKind::kCpu;
}

std::string TorchEngine::device_model() const { return device_.is_cuda() ? CudaDeviceModel(device_.index()) : ""; }
std::string TorchEngine::device_uuid() const { return device_.is_cuda() ? CudaDeviceUuid(device_.index()) : ""; }

std::string TorchEngine::format() const { return IsAotiPackage(source_.path) ? "aoti" : "torchscript"; }

template <typename Fn>
void TorchEngine::Guarded(const std::string& shapes, Fn&& fn) {
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

std::unique_ptr<Engine> Engine::Create(const ModelSource& model, const EngineOptions& options,
                                       std::optional<ModelSource> compiled, DevicePrewarm* prewarm) {
  static DevicePrewarm none;  // never started: waiting for it returns at once
  try {
    return std::make_unique<TorchEngine>(model, options, std::move(compiled), prewarm ? *prewarm : none);
  } catch (const c10::Error& e) {
    throw DeviceError("cannot set up the device for " + model.path + ": " + Brief(e));
  }
}

}  // namespace mpsbatch
