#include "infer/torch_device.h"

#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/mps.h>
#include <torch/version.h>

#include <algorithm>
#include <mutex>

#include "common/error.h"

namespace mpsbatch {

std::string LibtorchVersion() { return TORCH_VERSION; }

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

}  // namespace mpsbatch
