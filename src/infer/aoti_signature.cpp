#include "infer/aoti_signature.h"

#include <caffe2/serialize/inline_container.h>

#include <cstdlib>
#include <regex>

#include "infer/bytes_reader.h"

namespace mpsbatch {

namespace {

// The body of each generated check_input_N, in N's order.
std::vector<std::string> CheckFunctions(const std::string& wrapper) {
  std::vector<std::string> bodies;
  for (size_t n = 0;; ++n) {
    const std::string head = "static void check_input_" + std::to_string(n) + "(";
    const size_t begin = wrapper.find(head);
    if (begin == std::string::npos) return bodies;
    // A body ends where the next generated function starts.
    size_t end = wrapper.find("AOTI_NOINLINE", begin + head.size());
    end = std::min(end, wrapper.find("static bool _check_aoti_runtime_check_inputs_env", begin));
    bodies.push_back(wrapper.substr(begin, end == std::string::npos ? std::string::npos : end - begin));
  }
}

// Every (index, value) that `pattern` (two groups) finds in `body`.
std::vector<std::pair<size_t, int64_t>> Matches(const std::string& body, const std::regex& pattern) {
  std::vector<std::pair<size_t, int64_t>> found;
  for (std::sregex_iterator it(body.begin(), body.end(), pattern), end; it != end; ++it)
    found.emplace_back(std::stoul((*it)[1]), std::stoll((*it)[2]));
  return found;
}

// The messages AOTInductor's generator writes (codegen/cpp_wrapper_cpu.py,
// generate_input_output_runtime_checks), split over two string literals.
const std::regex kFixed(R"re(unmatched dim value at (\d+), "\s*<<\s*"expected: (\d+),)re");
const std::regex kMin(R"re(dim value is too small at (\d+), "\s*<<\s*"expected it to be >= (\d+),)re");
const std::regex kMax(R"re(dim value is too large at (\d+), "\s*<<\s*"expected to be <= (\d+),)re");
const std::regex kStride(R"re(unmatched stride value at (\d+), "\s*<<\s*"expected: (\d+),)re");
const std::regex kDtype(R"re(_expected_dtype = aoti_torch_dtype_(\w+)\(\))re");

}  // namespace

std::vector<AotiInput> ParseAotiInputChecks(const std::string& wrapper) {
  std::vector<AotiInput> inputs;
  for (const std::string& body : CheckFunctions(wrapper)) {
    AotiInput in;
    std::smatch dtype;
    if (!std::regex_search(body, dtype, kDtype)) return {};
    in.dtype = dtype[1];
    const auto fixed = Matches(body, kFixed), min = Matches(body, kMin), max = Matches(body, kMax),
               strides = Matches(body, kStride);
    // Every dimension has a check of its size or its stride (the last stride
    // of a contiguous input is a constant 1), so the highest index is the rank.
    size_t rank = 0;
    for (const auto* found : {&fixed, &min, &max, &strides})
      for (const auto& [at, value] : *found) rank = std::max(rank, at + 1);
    in.dims.resize(rank);
    in.strides.assign(rank, -1);
    for (const auto& [at, value] : fixed) in.dims[at].size = value;
    for (const auto& [at, value] : min) in.dims[at].min = value;
    for (const auto& [at, value] : max) in.dims[at].max = value;
    for (const auto& [at, value] : strides) in.strides[at] = value;
    inputs.push_back(std::move(in));
  }
  return inputs;
}

std::optional<std::vector<AotiInput>> ReadAotiInputChecks(const ModelSource& package) {
  try {
    std::unique_ptr<caffe2::serialize::PyTorchStreamReader> archive;
    if (package.bytes)
      archive = std::make_unique<caffe2::serialize::PyTorchStreamReader>(std::make_shared<BytesReader>(package.bytes));
    else
      archive = std::make_unique<caffe2::serialize::PyTorchStreamReader>(package.path);
    // The loader runs the model named "model": data/aotinductor/model/*.cpp.
    const std::string folder = "data/aotinductor/model/";
    for (const auto& name : archive->getAllRecords()) {
      if (name.rfind(folder, 0) != 0 || name.size() < 4 || name.compare(name.size() - 4, 4, ".cpp") != 0) continue;
      auto [data, size] = archive->getRecord(name);
      auto inputs = ParseAotiInputChecks(std::string(static_cast<const char*>(data.get()), size));
      if (!inputs.empty()) return inputs;
    }
  } catch (const std::exception&) {
    // Not an archive torch reads: the loader says what is wrong with it.
  }
  return std::nullopt;
}

namespace {

std::string Plural(int64_t n, const std::string& what) { return std::to_string(n) + " " + what + (n == 1 ? "" : "s"); }

// "[8, 8]", with "*" for a dynamic size.
std::string RowShapeOf(const AotiInput& in) {
  std::string s = "[";
  for (size_t d = 1; d < in.dims.size(); ++d)
    s += (d > 1 ? ", " : "") + (in.dims[d].size >= 0 ? std::to_string(in.dims[d].size) : std::string("*"));
  return s + "]";
}

bool IsFloatingName(const std::string& dtype) {
  return dtype == "float32" || dtype == "float64" || dtype == "float16" || dtype == "bfloat16";
}

// The precision whose cast gives `dtype`, if one does.
std::optional<std::string> PrecisionFor(const std::string& dtype) {
  if (dtype == "float32") return "fp32";
  if (dtype == "float16") return "fp16";
  if (dtype == "bfloat16") return "bf16";
  return std::nullopt;
}

// Why input `feed` reaches the model as it does, and the key that makes it
// `want`. `shared`: every input of the package takes `want` (input.dtype casts
// them all).
std::string DtypeFix(const std::string& want, const ModelFeed& feed, const EngineOptions& o, bool shared) {
  const bool normalises = o.input_scale || !o.input_mean.empty() || !o.input_std.empty();
  std::string why = "stored as " + std::string(DTypeName(feed.stored));
  if (o.input_dtype)
    why += ", cast by input.dtype: " + std::string(DTypeName(*o.input_dtype));
  else if (feed.dtype != feed.stored)
    why += ", cast to precision " + std::string(PrecisionName(o.precision)) + "'s " +
           std::string(DTypeName(feed.dtype)) + (IsFloating(feed.stored) ? "" : " by input.scale, mean or std");
  if (!ParseDType(want)) return why + "; mpsbatch cannot feed " + want + ": export the model to take another dtype";
  const auto precision = PrecisionFor(want);
  if (IsFloatingName(want) && precision && !o.input_dtype && IsFloating(feed.dtype))
    return why + "; set precision: " + *precision + " (the package was exported for " + want + " inputs; for " +
           std::string(PrecisionName(o.precision)) + ", export it again from the model in that dtype)";
  if (!shared)
    return why + "; input.dtype casts every input and the package's inputs take different dtypes: store '" +
           feed.dataset + "' as " + want + " in the input file";
  std::string fix = "set input.dtype: " + want;
  if (IsFloatingName(want) && !IsFloating(feed.stored) && !normalises)
    fix += " (with input.scale if the model expects scaled values, e.g. 0.00392156862745098 for 8-bit images)";
  if (!IsFloatingName(want) && normalises)
    fix += " and remove input.scale, input.mean and input.std, which make inputs floating";
  return why + "; " + fix;
}

bool OneDtype(const std::vector<AotiInput>& inputs) {
  for (const auto& in : inputs)
    if (in.dtype != inputs.front().dtype) return false;
  return true;
}

std::string BatchMismatch(const AotiDim& batch, const BatchSizes& b) {
  const std::string export_hint =
      "export it with a dynamic batch: torch.export.export(model, args, dynamic_shapes={'x': {0: "
      "torch.export.Dim('batch', max=N)}}) for each input x";
  if (batch.size >= 0) {
    if (b.uniform && b.largest == batch.size) return "";
    std::string feeds = b.searched ? "batch_size: auto tries batches of up to " + Plural(b.largest, "row")
                                   : "the job feeds batches of up to " + Plural(b.largest, "row") +
                                         (b.uniform ? "" : ", and a smaller last one");
    return "the package was exported with a fixed batch of " + Plural(batch.size, "row") + " (no dynamic batch " +
           "dimension), and " + feeds + "; " + export_hint;
  }
  if (batch.max >= 0 && b.largest > batch.max)
    return "the package takes batches of at most " + Plural(batch.max, "row") + ", and " +
           (b.searched ? "batch_size: auto tries up to " : "the job feeds up to ") + std::to_string(b.largest) +
           "; set batch_size: " + std::to_string(batch.max) + " or less, or export it with a larger Dim max";
  return "";
}

}  // namespace

std::string AotiInputMismatch(const std::vector<AotiInput>& inputs, const std::vector<ModelFeed>& feeds,
                              const BatchSizes& batches, const EngineOptions& options) {
  if (inputs.size() != feeds.size()) {
    std::string names;
    for (const auto& f : feeds) names += (names.empty() ? "" : ", ") + f.dataset;
    return "the package takes " + Plural(static_cast<int64_t>(inputs.size()), "input") + ", and input.datasets names " +
           std::to_string(feeds.size()) + " [" + names + "]; give one dataset per input, in forward() order";
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    const AotiInput& want = inputs[i];
    const ModelFeed& feed = feeds[i];
    const std::string which = "input " + std::to_string(i) + " ('" + feed.dataset + "')";
    if (want.dtype != DTypeName(feed.dtype))
      return "the package takes " + which + " as " + want.dtype + ", and the job gives it as " +
             std::string(DTypeName(feed.dtype)) + " (" + DtypeFix(want.dtype, feed, options, OneDtype(inputs)) + ")";
    bool rows_fit = want.dims.size() == feed.row_shape.size() + 1;
    for (size_t d = 1; rows_fit && d < want.dims.size(); ++d) {
      const AotiDim& dim = want.dims[d];
      const int64_t got = feed.row_shape[d - 1];
      rows_fit =
          (dim.size < 0 || dim.size == got) && (dim.min < 0 || got >= dim.min) && (dim.max < 0 || got <= dim.max);
    }
    if (!rows_fit)
      return "the package takes " + which + " in rows of " + RowShapeOf(want) + ", and the job gives rows of " +
             ShapeString(feed.row_shape) +
             (options.input_layout == InputLayout::kNhwc ? " (after input.layout: nhwc)" : "") +
             "; pick the datasets the model was exported for (input.datasets), set input.layout, or export it "
             "again with example inputs of the rows' shape";
    // mpsbatch hands the model contiguous rows.
    int64_t stride = 1;
    for (size_t d = want.strides.size(); d-- > 0;) {
      if (want.strides[d] >= 0 && want.strides[d] != stride && (d == 0 || want.dims[d].size != 1))
        return "the package takes " + which + " in another memory layout (stride " + std::to_string(want.strides[d]) +
               " at dimension " + std::to_string(d) + ", where contiguous rows have " + std::to_string(stride) +
               "); export it again with contiguous example inputs";
      stride *= d == 0 ? 1 : feed.row_shape[d - 1];
    }
    if (!want.dims.empty()) {
      const std::string batch = BatchMismatch(want.dims[0], batches);
      if (!batch.empty()) return batch;
    }
  }
  return "";
}

AotiInputChecksOn::AotiInputChecksOn() {
  if (const char* v = std::getenv("AOTI_RUNTIME_CHECK_INPUTS")) before_ = v;
  setenv("AOTI_RUNTIME_CHECK_INPUTS", "1", 1);
}

AotiInputChecksOn::~AotiInputChecksOn() {
  if (before_)
    setenv("AOTI_RUNTIME_CHECK_INPUTS", before_->c_str(), 1);
  else
    unsetenv("AOTI_RUNTIME_CHECK_INPUTS");
}

}  // namespace mpsbatch
