#include "infer/torch_types.h"

#include <cstring>

#include "common/error.h"

namespace mpsbatch {

c10::ScalarType ScalarTypeOf(DType t) {
  switch (t) {
    case DType::kFloat32: return torch::kFloat32;
    case DType::kFloat64: return torch::kFloat64;
    case DType::kFloat16: return torch::kFloat16;
    case DType::kBFloat16: return torch::kBFloat16;
    case DType::kUInt8: return torch::kUInt8;
    case DType::kInt8: return torch::kInt8;
    case DType::kInt16: return torch::kInt16;
    case DType::kInt32: return torch::kInt32;
    case DType::kInt64: return torch::kInt64;
    case DType::kBool: return torch::kBool;
    case DType::kUInt16: return torch::kUInt16;
  }
  throw InternalError("unmapped DType");
}

std::optional<DType> DTypeOf(c10::ScalarType t) {
  for (DType d : {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16, DType::kUInt8, DType::kInt8,
                  DType::kInt16, DType::kInt32, DType::kInt64, DType::kBool, DType::kUInt16})
    if (ScalarTypeOf(d) == t) return d;
  return std::nullopt;
}

DType StoredDType(c10::ScalarType model_type, std::optional<DType> requested, const std::string& output) {
  const std::string type = c10::toString(model_type);
  if (c10::isComplexType(model_type))
    throw ModelError(output + " is complex (" + type +
                     "), which mpsbatch does not store: a real dataset would drop its imaginary part. Return "
                     "torch.view_as_real(z) from the model (a trailing dimension of 2: real, imaginary), or the "
                     "part you need (z.abs(), z.angle())");
  if (requested) return *requested;
  if (model_type == torch::kBool) return DType::kUInt8;
  if (model_type == torch::kFloat16 || model_type == torch::kBFloat16 || c10::isFloat8Type(model_type))
    return DType::kFloat32;
  if (auto d = DTypeOf(model_type)) return *d;
  throw ModelError(output + " is " + type +
                   ", which mpsbatch cannot store as it is; set output.dtype (float32, float64, int32 or int64) to "
                   "convert it");
}

HostArray ToHostArray(const torch::Tensor& host) {
  auto c = host.contiguous();
  HostArray a(*DTypeOf(c.scalar_type()), Shape(c.sizes().begin(), c.sizes().end()));
  if (!a.bytes.empty()) std::memcpy(a.bytes.data(), c.data_ptr(), a.bytes.size());
  return a;
}

}  // namespace mpsbatch
