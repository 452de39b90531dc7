// Element types that cross mpsbatch's stages (HDF5 <-> host buffers <-> engine),
// and the host-side arrays that carry rows between them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/buffer.h"

namespace mpsbatch {

// The plan's wire format sends a DType as its number: add new ones at the end.
enum class DType { kFloat32, kFloat64, kFloat16, kBFloat16, kUInt8, kInt8, kInt16, kInt32, kInt64, kBool, kUInt16 };

size_t DTypeSize(DType t);
bool IsFloating(DType t);
// Canonical lower-case name ("float32", "uint8", ...).
std::string_view DTypeName(DType t);
// Accepts canonical names and the aliases fp32/fp16/bf16/f32/f64/half/double/float.
std::optional<DType> ParseDType(std::string_view name);

using Shape = std::vector<int64_t>;
std::string ShapeString(const Shape& shape);
// Product of the dimensions (1 for an empty shape).
int64_t NumElements(const Shape& shape);

// A dense, C-ordered, host-resident array. shape[0] is the row (sample) index.
// Owns its bytes; moving is cheap, copying copies.
struct HostArray {
  DType dtype = DType::kFloat32;
  Shape shape;
  ByteBuffer bytes;

  HostArray() = default;
  HostArray(DType t, Shape s);  // allocates storage for the shape, not zero-filled

  int64_t rows() const { return shape.empty() ? 0 : shape[0]; }
  size_t row_bytes() const;
};

// A non-owning view of rows [begin, begin + rows) of a HostArray-like buffer.
struct ArrayView {
  DType dtype = DType::kFloat32;
  Shape shape;  // shape[0] == rows in view
  const std::byte* data = nullptr;
};

// View of rows [begin, end) of `a`.
ArrayView RowSlice(const HostArray& a, int64_t begin, int64_t end);

}  // namespace mpsbatch
