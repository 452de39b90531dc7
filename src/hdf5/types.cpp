#include "hdf5/types.h"

#include <utility>

#include "common/error.h"

namespace mpsbatch {

namespace {

// IEEE 754 half precision in the machine's byte order, built as h5py builds
// numpy's float16 (HDF5 before 2.0 has no predefined half type): sign at bit
// 15, 5 exponent bits at 10, 10 mantissa bits at 0, exponent bias 15.
hid_t Float16Type() {
  static const hid_t type = [] {
    const hid_t t = H5Tcopy(H5T_NATIVE_FLOAT);
    if (t < 0 || H5Tset_fields(t, 15, 10, 5, 0, 10) < 0 || H5Tset_size(t, 2) < 0 || H5Tset_ebias(t, 15) < 0)
      throw InternalError("cannot build HDF5's float16 type");
    return t;  // lives as long as the process: HDF5 frees it at exit
  }();
  return type;
}

// numpy's bool as h5py stores it: an 8-bit enum, FALSE = 0 and TRUE = 1.
hid_t BoolType() {
  static const hid_t type = [] {
    const hid_t t = H5Tenum_create(H5T_NATIVE_INT8);
    const int8_t no = 0, yes = 1;
    if (t < 0 || H5Tenum_insert(t, "FALSE", &no) < 0 || H5Tenum_insert(t, "TRUE", &yes) < 0)
      throw InternalError("cannot build HDF5's bool type");
    return t;
  }();
  return type;
}

bool IsHalf(hid_t type) {
  size_t spos = 0, epos = 0, esize = 0, mpos = 0, msize = 0;
  return H5Tget_size(type) == 2 && H5Tget_fields(type, &spos, &epos, &esize, &mpos, &msize) >= 0 && spos == 15 &&
         epos == 10 && esize == 5 && mpos == 0 && msize == 10 && H5Tget_ebias(type) == 15;
}

// An enum of two 1-byte members named FALSE = 0 and TRUE = 1 (h5py's bool).
bool IsBool(hid_t type) {
  if (H5Tget_size(type) != 1 || H5Tget_nmembers(type) != 2) return false;
  for (const auto& [name, value] : {std::pair<const char*, int8_t>{"FALSE", 0}, {"TRUE", 1}}) {
    int8_t got = -1;
    if (H5Tenum_valueof(type, name, &got) < 0 || got != value) return false;
  }
  return true;
}

}  // namespace

hid_t NativeH5Type(DType t) {
  switch (t) {
    case DType::kFloat32: return H5T_NATIVE_FLOAT;
    case DType::kFloat64: return H5T_NATIVE_DOUBLE;
    case DType::kFloat16: return Float16Type();
    case DType::kUInt8: return H5T_NATIVE_UINT8;
    case DType::kUInt16: return H5T_NATIVE_UINT16;
    case DType::kInt8: return H5T_NATIVE_INT8;
    case DType::kInt16: return H5T_NATIVE_INT16;
    case DType::kInt32: return H5T_NATIVE_INT32;
    case DType::kInt64: return H5T_NATIVE_INT64;
    case DType::kBool: return BoolType();
    case DType::kBFloat16: break;
  }
  throw InternalError("no HDF5 native type for " + std::string(DTypeName(t)));
}

std::optional<DType> DTypeOfH5Type(hid_t type) {
  const size_t size = H5Tget_size(type);
  switch (H5Tget_class(type)) {
    case H5T_FLOAT:
      if (size == 2 && IsHalf(type)) return DType::kFloat16;
      if (size == 4) return DType::kFloat32;
      if (size == 8) return DType::kFloat64;
      return std::nullopt;
    case H5T_INTEGER: {
      const bool is_signed = H5Tget_sign(type) == H5T_SGN_2;
      if (!is_signed) {
        if (size == 1) return DType::kUInt8;
        if (size == 2) return DType::kUInt16;
        return std::nullopt;
      }
      if (size == 1) return DType::kInt8;
      if (size == 2) return DType::kInt16;
      if (size == 4) return DType::kInt32;
      if (size == 8) return DType::kInt64;
      return std::nullopt;
    }
    case H5T_ENUM:
      if (IsBool(type)) return DType::kBool;
      return std::nullopt;
    default: return std::nullopt;
  }
}

std::string DescribeH5Type(hid_t type) {
  const size_t bits = H5Tget_size(type) * 8;
  switch (H5Tget_class(type)) {
    case H5T_FLOAT:
      if (bits == 16 && !IsHalf(type)) return "16-bit float other than IEEE half (float16)";
      return "float" + std::to_string(bits);
    case H5T_INTEGER: return (H5Tget_sign(type) == H5T_SGN_2 ? "int" : "uint") + std::to_string(bits);
    case H5T_STRING: return "string";
    case H5T_COMPOUND: return "compound";
    case H5T_ENUM: return "enum";
    case H5T_BITFIELD: return "bitfield";
    case H5T_OPAQUE: return "opaque";
    case H5T_REFERENCE: return "reference";
    case H5T_VLEN: return "variable-length";
    case H5T_ARRAY: return "array";
    default: return "unknown";
  }
}

}  // namespace mpsbatch
