#include "plan/feed_hint.h"

#include <initializer_list>
#include <string_view>

namespace mpsbatch {

namespace {

bool Mentions(const std::string& text, std::initializer_list<std::string_view> markers) {
  for (auto m : markers)
    if (text.find(m) != std::string::npos) return true;
  return false;
}

// The input.scale that maps the stored type's range onto 0..1.
std::string ScaleFor(DType stored) {
  if (stored == DType::kUInt8) return " and, for 8-bit images, input.scale: 0.00392156862745098 (1/255)";
  if (stored == DType::kUInt16) return " and, for 16-bit images, input.scale: 1.5259021896696422e-05 (1/65535)";
  return "";
}

std::string DtypeHint(const EngineOptions& options, const DatasetInfo& in) {
  const DType fed = FedDType(options, in.dtype);
  if (IsFloating(fed)) return "";
  const std::string stored(DTypeName(in.dtype));
  if (options.input_dtype)
    return "Input '" + in.name + "' reaches the model as " + std::string(DTypeName(fed)) +
           " (input.dtype: " + std::string(DTypeName(fed)) + "); if the model takes floats, set input.dtype: float32.";
  return "Input '" + in.name + "' is stored as " + stored + " and reaches the model as " + stored +
         " (without input.dtype, input.scale, input.mean or input.std, " + stored +
         " inputs keep their type); if the model takes floats, set input.dtype: float32" + ScaleFor(in.dtype) + ".";
}

std::string LayoutHint(const EngineOptions& options, const DatasetInfo& in) {
  if (in.shape.size() != 4) return "";
  const Shape& s = in.shape;
  if (options.input_layout == InputLayout::kNchw) {
    const bool last_looks_like_channels = s[3] <= 4 && s[1] > 4;
    if (!last_looks_like_channels) return "";
    return "Input '" + in.name + "' is " + ShapeString(s) + ", which looks channels-last (rows, height, width, " +
           "channels); set input.layout: nhwc to hand the model " + ShapeString({s[0], s[3], s[1], s[2]}) + ".";
  }
  return "input.layout: nhwc hands the model '" + in.name + "' " + ShapeString(s) + " as " +
         ShapeString({s[0], s[3], s[1], s[2]}) + "; if the dataset is stored channels-first, set input.layout: nchw.";
}

}  // namespace

std::string FeedHint(const EngineOptions& options, const std::vector<DatasetInfo>& inputs,
                     const std::string& model_error) {
  // How torch says it: "mat1 and mat2 must have the same dtype, but got Byte
  // and Float", "Input type (unsigned char) and bias type (float) should be
  // the same", "\"addmm_impl_cpu_\" not implemented for 'UInt16'".
  const bool dtype = Mentions(model_error, {"dtype", "scalar type", "Input type (", "not implemented for '"});
  // "expected input[8, 8, 8, 3] to have 3 channels, but got 8 channels instead"
  const bool channels = Mentions(model_error, {"channels"});
  std::string hint;
  for (const auto& in : inputs)
    for (const std::string& sentence : {dtype ? DtypeHint(options, in) : "", channels ? LayoutHint(options, in) : ""})
      if (!sentence.empty()) hint += (hint.empty() ? "" : " ") + sentence;
  return hint;
}

}  // namespace mpsbatch
