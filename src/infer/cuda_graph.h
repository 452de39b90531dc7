// CUDA graph capture and replay of one batch step, for the engine's
// "cudagraph" path, and the engine's other calls into CUDA's own headers.
// Sees torch headers (no spdlog; see engine.h).
// cuda_graph.cpp implements it where libtorch has CUDA, no_cuda_graph.cpp
// elsewhere (it then reports graphs unavailable).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "infer/torch_types.h"

namespace mpsbatch {

class BlockSource;

using StepFn = std::function<TensorList(const TensorList&)>;

// One step (device inputs -> device outputs) recorded for a fixed input shape.
class CapturedStep {
 public:
  virtual ~CapturedStep() = default;
  // Copies `inputs` (the captured shapes and dtypes, on the device) into the
  // graph's input buffers and replays it on the current stream. The returned
  // tensors are the graph's own output buffers: the next Replay overwrites
  // them, so use them (copy them out) on the same stream before that.
  virtual TensorList Replay(const TensorList& inputs) = 0;
};

// True if this build can capture CUDA graphs.
bool CudaGraphsAvailable();

// The model name of CUDA device `index` ("NVIDIA H100 80GB HBM3"); "" when
// this build has no CUDA or the device cannot be asked.
std::string CudaDeviceModel(int index);

// The UUID of CUDA device `index` ("GPU-8f6c0d3e-..."), as nvidia-smi -L shows
// it; "" when this build has no CUDA or the device cannot be asked.
std::string CudaDeviceUuid(int index);

// Page-locked host memory as a source of the process's host blocks of 1 MiB
// and up (common/buffer.h), allocated with device `index` current (so no
// other GPU gets a context): rows read into them reach the device by DMA. One
// per process, made for the first call's device and never destroyed;
// nullptr where this build has no CUDA.
BlockSource* PinnedHostBlocks(int index);

// Warms `step` up on `example` (device tensors) and captures it on the current
// stream, which must not be the default stream. Throws c10::Error or
// std::runtime_error when the step cannot be captured (it synchronises with
// the host, say); the device is left usable.
std::unique_ptr<CapturedStep> CaptureCudaGraph(const StepFn& step, const TensorList& example);

}  // namespace mpsbatch
