// CUDA graph capture for the engine (built only against a CUDA libtorch).
#include "infer/cuda_graph.h"

#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>

#include <stdexcept>

namespace mpsbatch {

namespace {

class CudaGraphStep : public CapturedStep {
 public:
  CudaGraphStep(const StepFn& step, const TensorList& example) {
    for (const auto& x : example) inputs_.push_back(x.clone());
    // The JIT profiles its first runs and then settles on an optimised plan;
    // capture that plan, not a profiling run.
    for (int i = 0; i < 3; ++i) step(inputs_);
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
      cudaGraph_t broken = nullptr;
      if (cudaStreamEndCapture(stream.stream(), &broken) == cudaSuccess && broken) cudaGraphDestroy(broken);
      (void)cudaGetLastError();
      throw;
    }
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

std::unique_ptr<CapturedStep> CaptureCudaGraph(const StepFn& step, const TensorList& example) {
  return std::make_unique<CudaGraphStep>(step, example);
}

}  // namespace mpsbatch
