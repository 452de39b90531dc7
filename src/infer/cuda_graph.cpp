// CUDA graph capture for the engine (built only against a CUDA libtorch).
#include "infer/cuda_graph.h"

#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>

#include <cstdio>
#include <stdexcept>
#include <string>

#include "common/buffer.h"

namespace mpsbatch {

namespace {

class CudaGraphStep : public CapturedStep {
 public:
  CudaGraphStep(const StepFn& step, const TensorList& example) {
    for (const auto& x : example) inputs_.push_back(x.clone());
    // The JIT profiles its first runs and then settles on an optimised plan;
    // capture that plan, not a profiling run.
    for (int i = 0; i < 3; ++i) step(inputs_);
    Preflight(step);
    auto stream = c10::cuda::getCurrentCUDAStream();
    if (stream == c10::cuda::getDefaultCUDAStream()) throw std::runtime_error("cannot capture on the default stream");
    stream.synchronize();
    // Thread-local mode: the rank's other threads (MPI, HDF5) may still use
    // CUDA-free calls, and a failed capture stays this thread's problem.
    graph_.capture_begin({0, 0}, cudaStreamCaptureModeThreadLocal);
    try {
      outputs_ = step(inputs_);
      graph_.capture_end();
    } catch (...) {
      // End the capture so the stream works again, then drop what it made.
      // (libtorch before 2.14 leaves its allocator routing to the graph's
      // pool after a capture abandoned this way; Preflight keeps models that
      // would fail here from getting this far.)
      cudaGraph_t broken = nullptr;
      if (cudaStreamEndCapture(stream.stream(), &broken) == cudaSuccess && broken) cudaGraphDestroy(broken);
      (void)cudaGetLastError();
      throw;
    }
  }

  // One more step with libtorch's sync debug mode at "error": a step that
  // synchronises with the host (.item(), nonzero, a pageable copy) throws
  // here, outside any capture, instead of failing half-way through one.
  void Preflight(const StepFn& step) {
    auto& state = c10::cuda::warning_state();
    const auto before = state.get_sync_debug_mode();
    state.set_sync_debug_mode(c10::cuda::SyncDebugMode::L_ERROR);
    try {
      step(inputs_);
    } catch (const std::exception& e) {
      state.set_sync_debug_mode(before);
      throw std::runtime_error(std::string("the step synchronises with the host, which a CUDA graph cannot capture: ") +
                               e.what());
    }
    state.set_sync_debug_mode(before);
  }

  TensorList Replay(const TensorList& inputs) override {
    for (size_t i = 0; i < inputs_.size(); ++i) inputs_[i].copy_(inputs[i], /*non_blocking=*/true);
    graph_.replay();
    return outputs_;
  }

 private:
  at::cuda::CUDAGraph graph_;
  TensorList inputs_;
  TensorList outputs_;
};

}  // namespace

bool CudaGraphsAvailable() { return true; }

std::string CudaDeviceModel(int index) {
  cudaDeviceProp props{};
  if (cudaGetDeviceProperties(&props, index) != cudaSuccess) {
    (void)cudaGetLastError();
    return "";
  }
  return props.name;
}

std::string CudaDeviceUuid(int index) {
  cudaDeviceProp props{};
  if (cudaGetDeviceProperties(&props, index) != cudaSuccess) {
    (void)cudaGetLastError();
    return "";
  }
  // nvidia-smi's form: GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx.
  std::string s = "GPU-";
  char hex[3];
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    std::snprintf(hex, sizeof hex, "%02x", static_cast<unsigned char>(props.uuid.bytes[i]));
    s += hex;
  }
  return s;
}

namespace {

class PinnedHostMemory final : public BlockSource {
 public:
  explicit PinnedHostMemory(int device) : device_(device) {}

  void* Allocate(size_t bytes) override {
    void* p = nullptr;
    // The calling thread (a reader) may have no current device yet; CUDA would
    // take device 0 and open a context there for every rank of the host.
    if (cudaSetDevice(device_) != cudaSuccess || cudaHostAlloc(&p, bytes, cudaHostAllocPortable) != cudaSuccess) {
      (void)cudaGetLastError();
      return nullptr;  // malloc serves instead
    }
    return p;
  }

  void Free(void* block) override {
    if (cudaSetDevice(device_) != cudaSuccess || cudaFreeHost(block) != cudaSuccess) (void)cudaGetLastError();
  }

 private:
  const int device_;
};

}  // namespace

BlockSource* PinnedHostBlocks(int index) {
  // The first CUDA engine's device serves the process. Never destroyed:
  // blocks are released during exit too.
  static PinnedHostMemory* const pinned = new PinnedHostMemory(index);
  return pinned;
}

std::unique_ptr<CapturedStep> CaptureCudaGraph(const StepFn& step, const TensorList& example) {
  return std::make_unique<CudaGraphStep>(step, example);
}

}  // namespace mpsbatch
