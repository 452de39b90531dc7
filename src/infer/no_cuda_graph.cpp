// CUDA graph stand-in for libtorch builds without CUDA (CPU, Apple MPS).
#include <stdexcept>

#include "infer/cuda_graph.h"

namespace mpsbatch {

bool CudaGraphsAvailable() { return false; }

std::string CudaDeviceModel(int) { return ""; }

std::string CudaDeviceUuid(int) { return ""; }

BlockSource* PinnedHostBlocks(int) { return nullptr; }

std::unique_ptr<CapturedStep> CaptureCudaGraph(const StepFn&, const TensorList&) {
  throw std::runtime_error("this libtorch was built without CUDA");
}

}  // namespace mpsbatch
