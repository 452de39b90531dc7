// The batches an engine has in flight, and on CUDA the pipeline they take:
// rows into pinned memory, across on a copy stream, then the step and the
// copies back on a compute stream, so that copies and compute overlap the
// host's work. Sees torch headers (no spdlog; see engine.h).
#pragma once

#include <c10/core/Event.h>
#include <c10/core/Stream.h>
#include <c10/core/StreamGuard.h>
#include <torch/types.h>

#include <optional>
#include <string>
#include <vector>

#include "common/dtype.h"
#include "infer/torch_types.h"

namespace mpsbatch {

// One batch between Start and Finish.
struct InFlight {
  TensorList host;                 // CUDA: outputs on their way to pinned host memory
  std::optional<c10::Event> done;  // CUDA: recorded after the copies back
  std::vector<HostArray> ready;    // CPU, MPS: the outputs, done
  std::string shapes;              // the inputs, for messages
};

class CudaPipeline {
 public:
  // Takes a copy stream and a different compute stream of `device` from
  // torch's pool.
  explicit CudaPipeline(torch::Device device);

  // Queues `inputs` to the device and `step` (device inputs -> device
  // outputs) on them, and the outputs' copies back into `f`; nothing waits
  // for the device. If anything after the copies were queued throws (forward
  // raises, the device runs out of memory), waits for them: they may read
  // the caller's pinned rows, which the caller frees once Start has thrown.
  template <typename Step>
  void Start(const std::vector<ArrayView>& inputs, InFlight& f, Step&& step) {
    try {
      Queue(inputs, f, step);
    } catch (...) {
      try {
        copy_stream_->synchronize();
      } catch (const c10::Error&) {  // the device's own failure: the first error says more
      }
      throw;
    }
  }

  // Where the step runs (and where a CUDA graph of it is captured).
  c10::Stream compute_stream() const { return *compute_stream_; }

 private:
  template <typename Step>
  void Queue(const std::vector<ArrayView>& inputs, InFlight& f, Step& step) {
    TensorList raw = CopyIn(inputs);
    c10::StreamGuard on_compute(*compute_stream_);
    CopyOut(step(raw), f);
  }

  // The rows of `inputs` on the device, ready for the compute stream.
  TensorList CopyIn(const std::vector<ArrayView>& inputs);
  // Queues the copies of `outputs` to pinned host memory on the compute
  // stream, and the event after them, into `f`.
  void CopyOut(const TensorList& outputs, InFlight& f);

  torch::Device device_;
  std::optional<c10::Stream> copy_stream_, compute_stream_;
};

}  // namespace mpsbatch
