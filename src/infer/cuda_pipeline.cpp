#include "infer/cuda_pipeline.h"

#include <c10/core/impl/VirtualGuardImpl.h>

#include <cstring>

#include "common/buffer.h"

namespace mpsbatch {

CudaPipeline::CudaPipeline(torch::Device device) : device_(device) {
  c10::impl::VirtualGuardImpl impl(device_.type());
  copy_stream_ = impl.getStreamFromGlobalPool(device_);
  compute_stream_ = impl.getStreamFromGlobalPool(device_);
  while (*compute_stream_ == *copy_stream_) compute_stream_ = impl.getStreamFromGlobalPool(device_);
}

TensorList CudaPipeline::CopyIn(const std::vector<ArrayView>& inputs) {
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
  return raw;
}

void CudaPipeline::CopyOut(const TensorList& outputs, InFlight& f) {
  for (auto& y : outputs) {
    auto host = torch::empty(y.sizes(), y.options().device(torch::kCPU).pinned_memory(true));
    host.copy_(y, /*non_blocking=*/true);
    f.host.push_back(std::move(host));
  }
  f.done.emplace(device_.type());
  f.done->record(*compute_stream_);
}

}  // namespace mpsbatch
