#include "infer/preprocess.h"

#include <c10/core/impl/VirtualGuardImpl.h>

#include "common/error.h"
#include "infer/torch_types.h"

namespace mpsbatch {

Preprocess::Preprocess(const EngineOptions& options, torch::Device device) : options_(options), device_(device) {}

torch::Tensor Preprocess::ToDevice(const ArrayView& v) {
  auto t =
      torch::from_blob(const_cast<std::byte*>(v.data), v.shape, torch::TensorOptions().dtype(ScalarTypeOf(v.dtype)));
  if (device_.is_mps() && v.dtype == DType::kFloat64) t = t.to(ScalarTypeOf(InputTarget(v.dtype)));
  return device_.is_cpu() ? t : t.to(device_);
}

DType Preprocess::InputTarget(DType stored) const { return FedDType(options_, stored); }

// On the device: cast, scale, layout, mean and std. Narrow inputs (uint8
// images) crossed the bus narrow.
torch::Tensor Preprocess::Prepare(const torch::Tensor& raw, bool channels_last) {
  auto t = raw.to(ScalarTypeOf(InputTarget(*DTypeOf(raw.scalar_type()))));
  if (options_.input_scale) t = t * *options_.input_scale;
  if (options_.input_layout == InputLayout::kNhwc && t.dim() == 4) t = t.permute({0, 3, 1, 2});
  if (!options_.input_mean.empty()) t = t - PerChannel(0, options_.input_mean, t);
  if (!options_.input_std.empty()) t = t / PerChannel(1, options_.input_std, t);
  if (t.dim() == 4 && channels_last) return t.contiguous(at::MemoryFormat::ChannelsLast);
  return t.contiguous();
}

// `values` as a device tensor shaped to broadcast over dimension 1 of `like`.
// Made once per kind, dtype and rank: a copy from the host inside the step
// would stall the stream (and cannot be captured in a CUDA graph).
torch::Tensor Preprocess::PerChannel(int kind, const std::vector<double>& values, const torch::Tensor& like) {
  auto key = std::make_tuple(kind, like.scalar_type(), like.dim());
  auto it = per_channel_.find(key);
  if (it != per_channel_.end()) return it->second;
  std::vector<int64_t> shape(static_cast<size_t>(like.dim()), 1);
  if (like.dim() > 1) shape[1] = static_cast<int64_t>(values.size());
  auto t = torch::tensor(values, torch::TensorOptions().dtype(torch::kFloat64)).to(like.scalar_type()).view(shape);
  t = t.to(device_);
  if (device_.is_cuda()) c10::impl::VirtualGuardImpl(device_.type()).synchronizeDevice(device_.index());
  return per_channel_[key] = t;
}

TensorList Preprocess::StepWith(Forward& forward, const TensorList& raw) {
  TensorList xs;
  for (const auto& r : raw) xs.push_back(Prepare(r, forward.channels_last()));
  TensorList ys = forward.Run(xs);
  for (size_t i = 0; i < ys.size(); ++i) {
    auto& y = ys[i];
    if (y.dim() == 0) throw ModelError("the model returned a 0-d tensor; each output needs a batch dimension");
    y = y.to(ScalarTypeOf(StoredDType(y.scalar_type(), options_.output_dtype, OutputName(i))));
  }
  return ys;
}

// "output 1 ('z')", for messages.
std::string Preprocess::OutputName(size_t i) const {
  const auto& names = options_.output_names;
  return "output " + std::to_string(i) + (i < names.size() ? " ('" + names[i] + "')" : "");
}

}  // namespace mpsbatch
