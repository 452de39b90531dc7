#include "infer/export_record.h"

#include <algorithm>
#include <sstream>

#include "common/error.h"

namespace mpsbatch {

namespace {

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(s);
  while (std::getline(in, part, sep)) parts.push_back(part);
  if (!s.empty() && s.back() == sep) parts.emplace_back();
  return parts;
}

std::string Join(const std::vector<std::string>& items) {
  std::string s;
  for (const auto& i : items) s += (s.empty() ? "" : ", ") + i;
  return s;
}

// "8x8" -> [8, 8]; "" -> [] (one value per row).
Shape ParseRowShape(const std::string& text) {
  Shape shape;
  if (text.empty()) return shape;
  for (const auto& d : Split(text, 'x')) shape.push_back(std::stoll(d));
  return shape;
}

bool FloatingName(const std::string& dtype) {
  const auto t = ParseDType(dtype);
  return dtype == "float16" || dtype == "bfloat16" || (t && IsFloating(*t));
}

// The dtype a precision casts floating inputs to.
std::string PrecisionDtypeName(const std::string& precision) {
  if (precision == "fp16") return "float16";
  if (precision == "bf16") return "bfloat16";
  return "float32";
}

std::string DtypeFix(const std::string& want, const ModelFeed& feed) {
  const std::string got(DTypeName(feed.dtype));
  if (FloatingName(want) && !FloatingName(got))
    return "set input.dtype: " + want + ", or input.scale (with input.mean and input.std) as when it was exported";
  if (!FloatingName(want) && FloatingName(got))
    return "remove input.dtype, input.scale, input.mean and input.std, which make the rows floating, or store '" +
           feed.dataset + "' as " + want;
  return "set input.dtype: " + want + ", or store '" + feed.dataset + "' as " + want;
}

}  // namespace

std::unordered_map<std::string, std::string> ParseRecordLines(const std::string& text) {
  std::unordered_map<std::string, std::string> entries;
  for (const auto& line : Split(text, '\n')) {
    const size_t colon = line.find(": ");
    if (colon != std::string::npos) entries[line.substr(0, colon)] = line.substr(colon + 2);
  }
  return entries;
}

std::optional<ExportRecord> ReadExportRecord(const std::unordered_map<std::string, std::string>& entries,
                                             const std::string& path) {
  const auto format = entries.find("mpsbatch.format");
  if (format == entries.end()) return std::nullopt;
  const std::string where = "model.path '" + path + "': its export record (mpsbatch-export) ";
  if (format->second != "1")
    throw ModelError(where + "is in format " + format->second + ", which this mpsbatch does not read: export it " +
                     "again with this version's mpsbatch-export");
  auto get = [&](const std::string& key) {
    const auto it = entries.find("mpsbatch." + key);
    return it == entries.end() ? std::string() : it->second;
  };
  ExportRecord r;
  r.inputs = Split(get("inputs"), ';');
  r.datasets = Split(get("datasets"), ';');
  r.dtypes = Split(get("dtypes"), ';');
  r.precision = get("precision");
  r.layout = get("layout");
  const std::string shapes = get("row_shapes");
  // One input with rows of one value records "" and splits into nothing.
  std::vector<std::string> shape_texts = Split(shapes, ';');
  if (shape_texts.empty() && r.inputs.size() == 1) shape_texts.emplace_back();
  try {
    for (const auto& s : shape_texts) r.row_shapes.push_back(ParseRowShape(s));
  } catch (const std::exception&) {
    throw ModelError(where + "has row shapes '" + shapes + "' that are not of the form 8x8;16");
  }
  if (r.inputs.empty() || r.dtypes.size() != r.inputs.size() || r.row_shapes.size() != r.inputs.size() ||
      (!r.datasets.empty() && r.datasets.size() != r.inputs.size()))
    throw ModelError(where + "is incomplete: it lists " + std::to_string(r.inputs.size()) + " input(s), " +
                     std::to_string(r.dtypes.size()) + " dtype(s) and " + std::to_string(r.row_shapes.size()) +
                     " row shape(s); export it again");
  return r;
}

std::string ExportRecordMismatch(const ExportRecord& record, const std::vector<ModelFeed>& feeds,
                                 const EngineOptions& options, bool package) {
  const std::string forward = "forward(" + Join(record.inputs) + ")";
  std::vector<std::string> datasets;
  for (const auto& f : feeds) datasets.push_back(f.dataset);
  if (feeds.size() != record.inputs.size())
    return "the model was exported for " + std::to_string(record.inputs.size()) + " input(s), " + forward +
           ", and input.datasets names " + std::to_string(feeds.size()) + " [" + Join(datasets) +
           "]; give one dataset per input, in forward() order";
  for (const auto* names : {&record.datasets, &record.inputs}) {
    if (names->empty() || *names == datasets) continue;
    if (std::is_permutation(names->begin(), names->end(), datasets.begin(), datasets.end()))
      return "input.datasets lists [" + Join(datasets) + "], and the model was exported for [" + Join(*names) +
             "] in that order, " + forward + "; list input.datasets in forward() order";
  }
  const std::string precision = PrecisionName(options.precision);
  // A TorchScript model is cast to the job's precision; one exported at fp32
  // runs at any of them. A package runs at the precision it was exported for.
  const bool cast = !package && record.precision == "fp32";
  if (!record.precision.empty() && record.precision != precision && !cast)
    return "the model was exported for precision " + record.precision + ", and the job runs " + precision +
           "; set precision: " + record.precision + (package ? " (an AOTInductor package is not cast)" : "") +
           ", or export it again with --precision " + precision;
  for (size_t i = 0; i < feeds.size(); ++i) {
    const ModelFeed& feed = feeds[i];
    const std::string which =
        "input " + std::to_string(i) + " ('" + feed.dataset + "', forward's '" + record.inputs[i] + "')";
    if (feed.row_shape != record.row_shapes[i]) {
      std::string fix = "pick the dataset it was exported for in input.datasets, or export it again for these rows";
      if (!record.layout.empty() && record.layout != InputLayoutName(options.input_layout))
        fix = "set input.layout: " + record.layout + ", as when it was exported";
      return "the model was exported for " + which + " in rows of " + ShapeString(record.row_shapes[i]) +
             ", and the job gives rows of " + ShapeString(feed.row_shape) +
             (options.input_layout == InputLayout::kNhwc ? " (after input.layout: nhwc)" : "") + "; " + fix;
    }
    const std::string want = record.dtypes[i], got(DTypeName(feed.dtype));
    const bool precision_cast = cast && FloatingName(want) && FloatingName(got) &&
                                want == PrecisionDtypeName(record.precision) && got == PrecisionDtypeName(precision);
    if (want != got && !precision_cast)
      return "the model was exported for " + which + " as " + want + ", and the job gives it as " + got +
             " (stored as " + std::string(DTypeName(feed.stored)) + "); " + DtypeFix(want, feed);
  }
  return "";
}

}  // namespace mpsbatch
