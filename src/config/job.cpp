#include "config/job.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "common/error.h"
#include "common/nearest.h"
#include "config/job_reader.h"
#include "config/output_rules.h"

namespace fs = std::filesystem;

namespace mpsbatch {

DType PrecisionDType(Precision p) {
  switch (p) {
    case Precision::kFp32: return DType::kFloat32;
    case Precision::kFp16: return DType::kFloat16;
    case Precision::kBf16: return DType::kBFloat16;
  }
  return DType::kFloat32;
}

namespace {

// log_level's names are spdlog's; input.read: auto = straight from the file where it can.
constexpr EnumName<const char*> kLogLevelNames[] = {{"trace", "trace"}, {"debug", "debug"}, {"info", "info"},
                                                    {"warn", "warn"},   {"error", "error"}, {"off", "off"}};
constexpr EnumName<bool> kReadNames[] = {{true, "auto"}, {false, "hdf5"}};

// The schema: every key the job file may hold, by its dotted path.
const JobSchema kSchema = {
    {"",
     {"model",
      "device",
      "precision",
      "batch_size",
      "chunk_size",
      "schedule",
      "fail_on_nonfinite",
      "resume",
      "threads",
      "log_level",
      "on_error",
      "max_failed_rows",
      "stall_timeout",
      "progress_interval",
      "path",
      "calibration_seconds",
      "calibration_cache",
      "report",
      "input",
      "output",
      "progress"}},
    {"model", {"path", "compiled"}},
    {"input",
     {"path", "dataset", "datasets", "mode", "dtype", "scale", "mean", "std", "layout", "read", "read_threads"}},
    {"output", {"path", "datasets", "overwrite", "dtype", "per_input"}},
};

// Applies "a.b.c=value" to the tree; `value` is parsed as YAML.
std::string ApplyOverride(YAML::Node root, const std::string& text) {
  auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0) throw ConfigError("--set " + text + ": expected key.path=value");
  std::string key = text.substr(0, eq);
  YAML::Node value;
  try {
    value = YAML::Load(text.substr(eq + 1));
  } catch (const YAML::Exception& e) {
    throw ConfigError("--set " + key + ": malformed value: " + e.msg);
  }
  if (!value.IsDefined() || value.IsNull()) value = YAML::Node(std::string());
  std::vector<std::string> parts;
  std::stringstream ss(key);
  for (std::string part; std::getline(ss, part, '.');) {
    if (part.empty()) throw ConfigError("--set " + text + ": malformed key '" + key + "'");
    parts.push_back(part);
  }
  // Nodes are handles: walk by reassigning a handle to each child map.
  std::vector<YAML::Node> chain{root};
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    YAML::Node child = chain.back()[parts[i]];
    if (!child.IsDefined() || child.IsNull()) {
      chain.back()[parts[i]] = YAML::Node(YAML::NodeType::Map);
      child = chain.back()[parts[i]];
    } else if (!child.IsMap()) {
      throw ConfigError("--set " + key + ": '" + parts[i] + "' is not a mapping in the job file");
    }
    chain.push_back(child);
  }
  chain.back()[parts.back()] = value;
  return key;
}

JobConfig Build(YAML::Node root, JobReader& r) {
  JobConfig c;
  r.CheckKeys(root, "");

  YAML::Node model = r.Required(root, "", "model");
  r.CheckKeys(model, "model");
  c.model_path = r.Path(r.Required(model, "model", "path"), "model.path");
  if (auto n = model["compiled"]) {
    c.model_compiled = r.Path(n, "model.compiled");
    if (!c.model_compiled.ends_with(".pt2"))
      r.Fail("model.compiled", n, "expected an AOTInductor package (a .pt2 file), got '" + c.model_compiled + "'");
    if (c.model_path.ends_with(".pt2"))
      r.Fail("model.compiled", n,
             "model.path is already an AOTInductor package; model.compiled is its alternative "
             "to a TorchScript model.path");
  }

  if (auto n = root["device"]) c.device = r.Choice<DeviceRequest>(n, "device", kDeviceRequestNames);
  if (auto n = root["precision"]) c.precision = r.Choice<Precision>(n, "precision", kPrecisionNames);
  if (auto n = root["batch_size"]) {
    if (n.IsScalar() && n.Scalar() == "auto") {
      c.batch_size_auto = true;
    } else {
      c.batch_size = r.Integer(n, "batch_size", 1);
    }
  }
  if (auto n = root["path"]) c.path = r.Choice<PathRequest>(n, "path", kPathRequestNames);
  if (auto n = root["calibration_seconds"]) {
    c.calibration_seconds = r.Number(n, "calibration_seconds");
    if (!(c.calibration_seconds > 0 && c.calibration_seconds <= 3600))
      r.Fail("calibration_seconds", n, "must be > 0 and <= 3600");
  }
  if (auto n = root["calibration_cache"]) {
    const std::string value = r.String(n, "calibration_cache");
    for (const char* flag : {"true", "false", "yes", "no", "on", "none"})
      if (value == flag) r.Fail("calibration_cache", n, "expected auto, off or a folder, got '" + value + "'");
    c.calibration_cache = value == "auto" || value == "off" ? value : r.Path(n, "calibration_cache");
  }
  if (auto n = root["report"]) {
    const std::string value = r.String(n, "report");
    for (const char* flag : {"true", "false", "yes", "no", "on", "none"})
      if (value == flag) r.Fail("report", n, "expected auto, off or a file path, got '" + value + "'");
    c.report = value == "auto" || value == "off" ? value : r.Path(n, "report");
  }
  const bool aoti_available = c.model_path.ends_with(".pt2") || !c.model_compiled.empty();
  if (c.path == PathRequest::kAoti && !aoti_available)
    r.Fail("path", root["path"], "aoti needs an AOTInductor package: a .pt2 model.path, or model.compiled");
  if (c.model_path.ends_with(".pt2") && c.path != PathRequest::kAuto && c.path != PathRequest::kAoti)
    r.Fail("path", root["path"],
           std::string(PathRequestName(c.path)) + " runs TorchScript, but model.path is an AOTInductor package");
  if (auto n = root["chunk_size"]) c.chunk_size = r.Integer(n, "chunk_size", 0);
  if (auto n = root["schedule"]) c.schedule = r.Choice<Schedule>(n, "schedule", kScheduleNames);
  if (auto n = root["fail_on_nonfinite"]) c.fail_on_nonfinite = r.Bool(n, "fail_on_nonfinite");
  if (auto n = root["resume"]) c.resume = r.Bool(n, "resume");
  if (auto n = root["on_error"]) c.on_error = r.Choice<OnError>(n, "on_error", kOnErrorNames);
  if (auto n = root["max_failed_rows"]) {
    if (c.on_error != OnError::kSkip) r.Fail("max_failed_rows", n, "applies only with on_error: skip");
    c.max_failed_rows = r.FailedRows(n, "max_failed_rows");
  }
  if (auto n = root["stall_timeout"]) {
    double seconds = 0;
    const std::string word = r.WordOrSeconds(n, "stall_timeout", {"auto", "off"}, 7 * 86400, seconds);
    if (word == "auto") {
      c.stall_timeout.mode = StallTimeout::Mode::kAuto;
    } else if (word == "off") {
      c.stall_timeout.mode = StallTimeout::Mode::kOff;
    } else {
      c.stall_timeout = {StallTimeout::Mode::kSeconds, seconds};
    }
  }
  if (auto n = root["progress_interval"]) {
    double seconds = 0;
    c.progress_interval = r.WordOrSeconds(n, "progress_interval", {"off"}, 86400, seconds) == "off" ? 0 : seconds;
  }
  if (auto n = root["progress"]) c.progress = r.Choice<ProgressStyle>(n, "progress", kProgressStyleNames);
  if (auto n = root["threads"]) {
    const int64_t threads = r.Integer(n, "threads", 0);
    if (threads > 1024) r.Fail("threads", n, "must be <= 1024 (or 0: automatic), got " + std::to_string(threads));
    c.threads = static_cast<int>(threads);
  }
  if (auto n = root["log_level"]) c.log_level = r.Choice<const char*>(n, "log_level", kLogLevelNames);

  YAML::Node in = r.Required(root, "", "input");
  r.CheckKeys(in, "input");
  if (YAML::Node paths = r.Required(in, "input", "path"); paths.IsSequence()) {
    if (paths.size() == 0) r.Fail("input.path", paths, "the list is empty; give the input files (or a glob)");
    for (size_t i = 0; i < paths.size(); ++i) {
      c.input.paths.push_back(r.Path(paths[i], "input.path"));
      c.input.path += (i == 0 ? "" : ", ") + c.input.paths.back();
    }
  } else {
    c.input.path = r.Path(paths, "input.path");
    c.input.paths = {c.input.path};
  }
  YAML::Node one = in["dataset"], many = in["datasets"];
  if (one && many) r.Fail("input.datasets", many, "give either input.dataset or input.datasets, not both");
  if (one) {
    c.input.datasets = {r.String(one, "input.dataset")};
    if (c.input.datasets[0].empty()) r.Fail("input.dataset", one, "the name is empty");
  } else if (many) {
    c.input.datasets = r.StringList(many, "input.datasets");
  } else {
    r.Fail("input.dataset", in, "required key is missing (or give input.datasets)");
  }
  if (auto n = in["mode"]) c.input.mode = r.Choice<InputMode>(n, "input.mode", kInputModeNames);
  if (auto n = in["dtype"]) c.input.dtype = r.Dtype(n, "input.dtype", false);
  if (auto n = in["scale"]) c.input.scale = r.Number(n, "input.scale");
  if (auto n = in["mean"]) c.input.mean = r.NumberList(n, "input.mean");
  if (auto n = in["std"]) {
    c.input.std = r.NumberList(n, "input.std");
    for (double v : c.input.std)
      if (v == 0) r.Fail("input.std", n, "values must be non-zero");
  }
  if (!c.input.mean.empty() && !c.input.std.empty() && c.input.mean.size() != c.input.std.size() &&
      c.input.mean.size() != 1 && c.input.std.size() != 1)
    r.Fail("input.std", in["std"],
           "has " + std::to_string(c.input.std.size()) + " values, input.mean " + std::to_string(c.input.mean.size()));
  if (c.input.dtype && !IsFloating(*c.input.dtype) && (c.input.scale || !c.input.mean.empty() || !c.input.std.empty()))
    r.Fail("input.dtype", in["dtype"],
           std::string(DTypeName(*c.input.dtype)) +
               " is an integer type; input.scale, input.mean and input.std need a floating one (or leave "
               "input.dtype out: they make integer inputs floating)");
  if (auto n = in["layout"]) c.input.layout = r.Choice<InputLayout>(n, "input.layout", kInputLayoutNames);
  if (auto n = in["read"]) c.input.read_direct = r.Choice<bool>(n, "input.read", kReadNames);
  if (auto n = in["read_threads"]; n && !(n.IsScalar() && n.Scalar() == "auto")) {
    const int64_t threads = r.Integer(n, "input.read_threads", 1);
    if (threads > 64) r.Fail("input.read_threads", n, "must be <= 64 (or auto), got " + std::to_string(threads));
    c.input.read_threads = static_cast<int>(threads);
  }

  YAML::Node out = r.Required(root, "", "output");
  r.CheckKeys(out, "output");
  YAML::Node out_path = r.Required(out, "output", "path"), out_names = r.Required(out, "output", "datasets");
  c.output.path = r.Path(out_path, "output.path");
  if (const std::string problem = OutputPathProblem(c.output.path); !problem.empty())
    r.Fail("output.path", out_path, problem);
  c.output.datasets = r.StringList(out_names, "output.datasets");
  if (const std::string problem = OutputNamesProblem(c.output.datasets); !problem.empty())
    r.Fail("output.datasets", out_names, problem);
  if (auto n = out["overwrite"]) c.output.overwrite = r.Bool(n, "output.overwrite");
  if (auto n = out["dtype"]) c.output.dtype = r.Dtype(n, "output.dtype", true);
  if (auto n = out["per_input"]) c.output.per_input = r.Bool(n, "output.per_input");
  if (const std::string problem = OutputPatternProblem(c.output.path, c.output.per_input); !problem.empty())
    r.Fail("output.path", out_path, problem);
  if (c.on_error == OnError::kSkip)
    for (const auto& name : c.output.datasets)
      if (name == kFailedDatasetName)
        r.Fail("output.datasets", out["datasets"],
               "'" + name + "' is the dataset on_error: skip marks failed rows in; name the output otherwise");

  YAML::Emitter emitter;
  emitter << root;
  c.effective_yaml = std::string(emitter.c_str()) + "\n";
  return c;
}

}  // namespace

std::optional<int64_t> FailedRowsLimit::For(int64_t rows) const {
  if (count) return *count;
  if (percent) return static_cast<int64_t>(std::floor(static_cast<double>(rows) * *percent / 100.0));
  return std::nullopt;
}

std::string FailedRowsLimit::Text() const {
  if (count) return std::to_string(*count);
  if (!percent) return "none";
  std::ostringstream s;
  s << *percent << "%";
  return s.str();
}

JobConfig ParseJobText(const std::string& text, const std::string& source, const std::string& base_dir,
                       const std::vector<std::string>& overrides) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw ConfigError(source + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) +
                      ": malformed YAML: " + e.msg);
  }
  if (!root.IsDefined() || root.IsNull()) throw ConfigError(source + ": the job file is empty");
  if (!root.IsMap()) throw ConfigError(source + ": the job file must be a mapping of keys");
  JobReader reader(kSchema, source, base_dir);
  for (const auto& o : overrides) reader.MarkOverridden(ApplyOverride(root, o));
  return Build(root, reader);
}

JobConfig LoadJobFile(const std::string& path, const std::vector<std::string>& overrides) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (!ec && fs::is_directory(status)) throw ConfigError(path + ": is a folder, not a job file");
  if (!ec && !fs::is_regular_file(status))
    throw ConfigError(path + ": is not a regular file (a pipe or a device?); give a job file (YAML)");
  if (!ec && fs::file_size(path, ec) > (size_t{16} << 20))
    throw ConfigError(path + ": is larger than 16 MiB, too large for a job file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot read the job file: " + std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  fs::path base = fs::absolute(fs::path(path)).parent_path();
  return ParseJobText(ss.str(), path, base.string(), overrides);
}

}  // namespace mpsbatch
