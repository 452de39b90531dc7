// What the job's options do to a batch on the device, around the model's
// forward(): inputs cast, scaled, laid out and normalised on their way in,
// outputs converted to the types they are stored in on their way out.
// Sees torch headers (no spdlog; see engine.h).
#pragma once

#include <torch/types.h>

#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "infer/engine.h"
#include "infer/forward.h"

namespace mpsbatch {

class Preprocess {
 public:
  Preprocess(const EngineOptions& options, torch::Device device);

  // Host rows -> device tensor as stored (CPU: no copy). MPS has no float64,
  // so that one cast happens on the host.
  torch::Tensor ToDevice(const ArrayView& v);

  // The dtype the model gets an input stored as `stored` in.
  DType InputTarget(DType stored) const;

  // Device inputs as stored -> device outputs in the types they are stored
  // in (StoredDType), by `forward`.
  TensorList StepWith(Forward& forward, const TensorList& raw);

 private:
  torch::Tensor Prepare(const torch::Tensor& raw, bool channels_last);
  torch::Tensor PerChannel(int kind, const std::vector<double>& values, const torch::Tensor& like);
  std::string OutputName(size_t i) const;

  EngineOptions options_;
  torch::Device device_;
  std::map<std::tuple<int, c10::ScalarType, int64_t>, torch::Tensor> per_channel_;  // see PerChannel
};

}  // namespace mpsbatch
