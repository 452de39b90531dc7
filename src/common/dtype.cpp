#include "common/dtype.h"

#include <array>

#include "common/error.h"

namespace mpsbatch {

namespace {
struct DTypeInfo {
  DType type;
  std::string_view name;
  size_t size;
  bool floating;
};
constexpr std::array<DTypeInfo, 11> kTypes = {{
    {DType::kFloat32, "float32", 4, true},
    {DType::kFloat64, "float64", 8, true},
    {DType::kFloat16, "float16", 2, true},
    {DType::kBFloat16, "bfloat16", 2, true},
    {DType::kUInt8, "uint8", 1, false},
    {DType::kInt8, "int8", 1, false},
    {DType::kInt16, "int16", 2, false},
    {DType::kInt32, "int32", 4, false},
    {DType::kInt64, "int64", 8, false},
    {DType::kBool, "bool", 1, false},
    {DType::kUInt16, "uint16", 2, false},
}};

const DTypeInfo& Info(DType t) {
  for (const auto& info : kTypes)
    if (info.type == t) return info;
  throw InternalError("unknown DType");
}
}  // namespace

size_t DTypeSize(DType t) { return Info(t).size; }
bool IsFloating(DType t) { return Info(t).floating; }
std::string_view DTypeName(DType t) { return Info(t).name; }

std::optional<DType> ParseDType(std::string_view name) {
  for (const auto& info : kTypes)
    if (info.name == name) return info.type;
  if (name == "fp32" || name == "f32" || name == "float") return DType::kFloat32;
  if (name == "fp64" || name == "f64" || name == "double") return DType::kFloat64;
  if (name == "fp16" || name == "f16" || name == "half") return DType::kFloat16;
  if (name == "bf16") return DType::kBFloat16;
  return std::nullopt;
}

std::string ShapeString(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

int64_t NumElements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

HostArray::HostArray(DType t, Shape s)
    : dtype(t), shape(std::move(s)), bytes(static_cast<size_t>(NumElements(shape)) * DTypeSize(t)) {}

size_t HostArray::row_bytes() const {
  if (shape.empty()) return 0;
  Shape row(shape.begin() + 1, shape.end());
  return static_cast<size_t>(NumElements(row)) * DTypeSize(dtype);
}

ArrayView RowSlice(const HostArray& a, int64_t begin, int64_t end) {
  MPSBATCH_ASSERT(begin >= 0 && begin <= end && end <= a.rows());
  ArrayView v;
  v.dtype = a.dtype;
  v.shape = a.shape;
  v.shape[0] = end - begin;
  v.data = a.bytes.data() + static_cast<size_t>(begin) * a.row_bytes();
  return v;
}

}  // namespace mpsbatch
