#include "plan/resume_identity.h"

#include <cstdio>
#include <sstream>
#include <vector>

namespace mpsbatch {

std::string OutputDTypeSetting(const JobConfig& job) {
  return job.output.dtype ? std::string(DTypeName(*job.output.dtype)) : "each output's own";
}

std::string InputConversionIdentity(const JobConfig& job) {
  std::ostringstream s;
  s << "input.dtype: " << (job.input.dtype ? DTypeName(*job.input.dtype) : "as stored") << "\n";
  s << "input.scale: ";
  if (job.input.scale) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", *job.input.scale);
    s << buf;
  } else {
    s << "none";
  }
  s << "\n";
  auto numbers = [](const std::vector<double>& v) {
    std::string out;
    for (double x : v) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.17g", x);
      out += (out.empty() ? "" : ", ") + std::string(buf);
    }
    return "[" + out + "]";
  };
  s << "input.mean: " << numbers(job.input.mean) << "\n";
  s << "input.std: " << numbers(job.input.std) << "\n";
  s << "input.layout: " << InputLayoutName(job.input.layout) << "\n";
  return s.str();
}

namespace {

// The identity's lines after the input files': datasets, sources, settings,
// model and outputs. With `per_row`, the input datasets' shapes are given
// per row (an output file of output.per_input holds one input file's rows,
// which its "input.file" line counts); otherwise whole.
std::string SettingsIdentity(const JobConfig& job, const JobPlan& plan, bool per_row) {
  std::ostringstream s;
  // The names in order, then each dataset: a reordered list feeds the model
  // differently even when every dataset is the same.
  std::string names;
  for (const auto& in : plan.inputs) names += (names.empty() ? "" : ", ") + in.name;
  s << "input.datasets: [" << names << "]\n";
  for (const auto& in : plan.inputs) {
    if (per_row)
      s << "input.dataset." << in.name << ": " << DTypeName(in.dtype) << " "
        << ShapeString(Shape(in.shape.begin() + (in.shape.empty() ? 0 : 1), in.shape.end())) << " per row\n";
    else
      s << "input.dataset." << in.name << ": " << DTypeName(in.dtype) << " " << ShapeString(in.shape) << "\n";
  }
  // Keyed by path, so that a refusal names the file that changed.
  for (const auto& src : plan.input_sources)
    s << "input.source " << src.path << ": size " << src.stamp.size << ", mtime_ns " << src.stamp.mtime_ns << "\n";
  s << InputConversionIdentity(job);
  s << "model.sha256: " << plan.model_sha256 << "\n";
  s << "model.compiled.sha256: " << (plan.compiled_sha256.empty() ? "none" : plan.compiled_sha256) << "\n";
  s << "device: " << DeviceRequestName(job.device) << "\n";
  s << "path: " << PathRequestName(job.path) << "\n";
  s << "precision: " << PrecisionName(job.precision) << "\n";
  // Chunks taken over from an earlier run were checked only if it checked.
  s << "fail_on_nonfinite: " << (job.fail_on_nonfinite ? "true" : "false") << "\n";
  // Under on_error: skip the file holds the `failed` dataset too; absent for
  // fail, so that files started before the key existed still resume.
  if (job.on_error != OnError::kFail) s << "on_error: " << OnErrorName(job.on_error) << "\n";
  // One file per input file: absent for one output, whose files it leaves as they were.
  if (job.output.per_input) s << "output.per_input: true\n";
  s << "batch_size: " << (job.batch_size_auto ? "auto" : std::to_string(job.batch_size)) << "\n";
  s << "output.dtype: " << OutputDTypeSetting(job) << "\n";
  names.clear();
  for (const auto& out : plan.outputs) names += (names.empty() ? "" : ", ") + out.name;
  s << "output.datasets: [" << names << "]\n";
  for (const auto& out : plan.outputs)
    s << "output.dataset." << out.name << ": " << DTypeName(out.dtype) << " " << ShapeString(out.row_shape) << "\n";
  return s.str();
}

constexpr std::string_view kInputFileKey = "input.file ";

// An input file's line of an identity: "input.file PATH: rows R, size S, mtime_ns M".
std::string InputFileLine(const InputShard& file) {
  return std::string(kInputFileKey) + file.path + ": rows " + std::to_string(file.rows) + ", size " +
         std::to_string(file.stamp.size) + ", mtime_ns " + std::to_string(file.stamp.mtime_ns) + "\n";
}

}  // namespace

std::string ResumeIdentity(const JobConfig& job, const JobPlan& plan, int64_t input_mtime_ns) {
  std::ostringstream s;
  if (plan.input_files.size() > 1) {
    // Each file by path, first: a refusal then names the file that changed.
    for (const auto& file : plan.input_files) s << InputFileLine(file);
    s << "rows: " << plan.rows << "\n";
  } else {
    s << "rows: " << plan.rows << "\n";
    s << "input_file.size: " << plan.input_file_size << "\n";
    s << "input_file.mtime_ns: " << input_mtime_ns << "\n";
  }
  s << SettingsIdentity(job, plan, false);
  return s.str();
}

std::string ShardIdentity(const JobConfig& job, const JobPlan& plan, size_t file) {
  return InputFileLine(plan.input_files.at(file)) + SettingsIdentity(job, plan, true);
}

namespace {

using IdentityLines = std::vector<std::pair<std::string, std::string>>;

// The input files' lines of two identities ("input.file PATH: ..."), compared
// first: a file gone, new or changed is named, whatever else its rows changed.
std::string InputFilesDifference(const IdentityLines& was, const IdentityLines& is) {
  constexpr std::string_view kPrefix = "input.file ";
  auto files = [&](const IdentityLines& lines) {
    IdentityLines out;
    for (const auto& line : lines)
      if (line.first.starts_with(kPrefix)) out.emplace_back(line.first.substr(kPrefix.size()), line.second);
    return out;
  };
  const IdentityLines then = files(was), now = files(is);
  auto find = [](const IdentityLines& lines, const std::string& path) {
    return std::find_if(lines.begin(), lines.end(), [&](const auto& line) { return line.first == path; });
  };
  for (const auto& [path, value] : now) {
    const auto it = find(then, path);
    if (it == then.end() && !then.empty())
      return "input.path's file " + path + " was not among the input files when the output was started";
    if (it != then.end() && it->second != value)
      return "input.path's file " + path + " was '" + it->second + "' when the output was started, is '" + value +
             "' now";
  }
  for (const auto& [path, value] : then)
    if (find(now, path) == now.end() && !now.empty())
      return "input.path's file " + path + " was among the input files when the output was started, is not now";
  for (size_t i = 0; i < now.size() && i < then.size(); ++i)
    if (now[i].first != then[i].first)
      return "input.path's files come in another order than when the output was started (file " +
             std::to_string(i + 1) + " was " + then[i].first + ", is " + now[i].first + " now)";
  return "";
}

}  // namespace

std::string IdentityDifference(const std::string& recorded, const std::string& now) {
  auto parse = [](const std::string& text) {
    std::vector<std::pair<std::string, std::string>> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      const size_t colon = line.find(": ");
      if (colon == std::string::npos) continue;
      lines.emplace_back(line.substr(0, colon), line.substr(colon + 2));
    }
    return lines;
  };
  const auto was = parse(recorded), is = parse(now);
  auto find = [](const auto& lines, const std::string& key) -> std::string {
    for (const auto& [k, v] : lines)
      if (k == key) return v;
    return "(absent)";
  };
  if (std::string files = InputFilesDifference(was, is); !files.empty()) return files;
  for (const auto& [key, value] : is)
    if (find(was, key) != value)
      return key + " was '" + find(was, key) + "' when the output was started, is '" + value + "' now";
  for (const auto& [key, value] : was)
    if (find(is, key) == "(absent)") return key + " was '" + value + "' when the output was started, is absent now";
  return "";
}

ShardIdentityDifference CompareShardIdentity(const std::string& recorded, const std::string& now) {
  auto split = [](const std::string& text, std::vector<std::string>& files) {
    std::string rest;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      if (line.starts_with(kInputFileKey))
        files.push_back(line.substr(kInputFileKey.size()));
      else
        rest += line + "\n";
    }
    return rest;
  };
  std::vector<std::string> was_files, is_files;
  const std::string was = split(recorded, was_files), is = split(now, is_files);
  ShardIdentityDifference d;
  if (was_files.size() != 1) {  // the job's identity, as files written before ShardIdentity record
    d.earlier_format = true;
    return d;
  }
  d.settings = IdentityDifference(was, is);
  const std::string& then_file = was_files.front();
  const std::string& now_file = is_files.at(0);
  const size_t then_colon = then_file.find(": "), now_colon = now_file.find(": ");
  const std::string then_path = then_file.substr(0, then_colon), now_path = now_file.substr(0, now_colon);
  if (then_path != now_path)
    d.input = "it was started from input file " + then_path + ", not " + now_path;
  else if (then_file != now_file)
    d.input = "input file " + now_path + " was '" + then_file.substr(then_colon + 2) +
              "' when the output was started, is '" + now_file.substr(now_colon + 2) + "' now";
  return d;
}

}  // namespace mpsbatch
