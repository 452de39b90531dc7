#include "write/output_origin.h"

#include <yaml-cpp/yaml.h>

#include "hdf5/handle.h"

namespace mpsbatch {

namespace {

// output.path of the job text `config` (the file's `config` attribute), or "".
std::string OutputPathOf(const std::string& config) {
  try {
    const YAML::Node job = YAML::Load(config);
    if (job["output"] && job["output"]["path"]) return job["output"]["path"].as<std::string>();
  } catch (const YAML::Exception&) {
    // A file of another version; the message goes without the path.
  }
  return "";
}

}  // namespace

std::optional<OutputOrigin> ReadOutputOrigin(const std::string& path) {
  SilenceHdf5Errors();
  H5Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file.valid()) return std::nullopt;
  auto text = [&](const char* name) { return ReadStringAttribute(file.get(), name).value_or(""); };
  OutputOrigin origin;
  origin.input = text("input_file");
  origin.per_input = !origin.input.empty();
  if (!origin.per_input) origin.input = text("input_path");
  if (origin.input.empty()) return std::nullopt;
  origin.output_path = OutputPathOf(text("config"));
  if (origin.output_path.empty()) origin.output_path = OutputPathOf(text("job_yaml"));
  origin.end_time = text("end_time");
  origin.command_line = text("command_line");
  return origin;
}

std::string DescribeOrigin(const OutputOrigin& origin) {
  std::string s = origin.per_input ? "a per-input job" : "a job with one output";
  if (!origin.output_path.empty()) s += " (output.path " + origin.output_path + ")";
  s += " committed it";
  if (!origin.end_time.empty()) s += " at " + origin.end_time;
  s += origin.per_input ? " as the output of input file " + origin.input : " from input.path " + origin.input;
  if (!origin.command_line.empty()) s += " (command line: " + origin.command_line + ")";
  return s;
}

}  // namespace mpsbatch
