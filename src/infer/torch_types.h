// mpsbatch's element types and arrays in torch's terms, and the rule that
// picks the type each model output is stored in. Sees torch headers (no spdlog; see engine.h).
#pragma once

#include <torch/types.h>

#include <optional>
#include <string>
#include <vector>

#include "common/dtype.h"

namespace mpsbatch {

using TensorList = std::vector<torch::Tensor>;

c10::ScalarType ScalarTypeOf(DType t);
// The DType that is `t`, if mpsbatch has one.
std::optional<DType> DTypeOf(c10::ScalarType t);

// The type an output the model returns as `model_type` is stored in.
// `requested` (output.dtype, when the job gives it) wins: the job asked for
// that conversion, lossy or not. Otherwise each output keeps its own type:
// float32, float64 and the integer types as they are, bool as uint8 (0 or 1),
// float16, bfloat16 and the float8 types widened to float32 (which holds
// them exactly, so that fp16 and bf16 runs store what fp32 runs store).
// Throws ModelError, naming `output` ("output 1 ('z')"), for a complex
// output (storing it as real would drop its imaginary part), whatever
// `requested`, and for a type no HDF5 dataset of mpsbatch's holds (unsigned
// integers wider than 8 bits, quantized types) unless output.dtype asks for one.
DType StoredDType(c10::ScalarType model_type, std::optional<DType> requested, const std::string& output);

// A host tensor of a type StoredDType returns, as mpsbatch's array.
HostArray ToHostArray(const torch::Tensor& host);

}  // namespace mpsbatch
