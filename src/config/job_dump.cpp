#include "config/job_dump.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <string>
#include <vector>

namespace mpsbatch {

namespace {

// `s` as one YAML scalar, quoted where plain text would read as something else.
std::string Scalar(const std::string& s) {
  YAML::Emitter e;
  e << s;
  return e.c_str();
}

// The shortest text that reads back as `v`.
std::string Number(double v) {
  char buf[64];
  const auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
  return std::string(buf, end);
}

std::string Names(const std::vector<std::string>& names) {
  YAML::Emitter e;
  e << YAML::Flow << names;
  return e.c_str();
}

std::string Numbers(const std::vector<double>& values) {
  std::string s = "[";
  for (size_t i = 0; i < values.size(); ++i) s += (i ? ", " : "") + Number(values[i]);
  return s + "]";
}

class Dump {
 public:
  void Key(const std::string& key, const std::string& value) { text_ += indent_ + key + ": " + value + "\n"; }
  void Unset(const std::string& key, const std::string& meaning) {
    text_ += indent_ + "# " + key + ": not set (" + meaning + ")\n";
  }
  void Open(const std::string& key) {
    text_ += key + ":\n";
    indent_ = "  ";
  }
  void Close() { indent_.clear(); }
  const std::string& text() const { return text_; }

 private:
  std::string text_, indent_;
};

std::string StallText(const StallTimeout& t) {
  switch (t.mode) {
    case StallTimeout::Mode::kAuto: return "auto";
    case StallTimeout::Mode::kOff: return "off";
    case StallTimeout::Mode::kSeconds: return Number(t.seconds);
  }
  return "auto";
}

}  // namespace

std::string DumpJob(const JobConfig& job) {
  Dump d;
  d.Open("model");
  d.Key("path", Scalar(job.model_path));
  if (job.model_compiled.empty()) {
    d.Unset("compiled", "no AOTInductor alternative");
  } else {
    d.Key("compiled", Scalar(job.model_compiled));
  }
  d.Close();
  d.Key("device", DeviceRequestName(job.device));
  d.Key("precision", PrecisionName(job.precision));
  d.Key("batch_size", job.batch_size_auto ? "auto" : std::to_string(job.batch_size));
  d.Key("path", PathRequestName(job.path));
  d.Key("calibration_seconds", Number(job.calibration_seconds));
  d.Key("calibration_cache", Scalar(job.calibration_cache));
  d.Key("chunk_size", std::to_string(job.chunk_size));
  d.Key("schedule", ScheduleName(job.schedule));
  d.Key("fail_on_nonfinite", job.fail_on_nonfinite ? "true" : "false");
  d.Key("resume", job.resume ? "true" : "false");
  d.Key("stall_timeout", StallText(job.stall_timeout));
  d.Key("progress_interval", job.progress_interval > 0 ? Number(job.progress_interval) : "off");
  d.Key("threads", std::to_string(job.threads));
  d.Key("log_level", Scalar(job.log_level));
  d.Key("report", Scalar(job.report));

  d.Open("input");
  d.Key("path", Scalar(job.input.path));
  d.Key("datasets", Names(job.input.datasets));
  d.Key("mode", InputModeName(job.input.mode));
  if (job.input.dtype) {
    d.Key("dtype", std::string(DTypeName(*job.input.dtype)));
  } else {
    d.Unset("dtype", "each input in its stored type");
  }
  if (job.input.scale) {
    d.Key("scale", Number(*job.input.scale));
  } else {
    d.Unset("scale", "no scaling");
  }
  if (job.input.mean.empty()) {
    d.Unset("mean", "no mean subtracted");
  } else {
    d.Key("mean", Numbers(job.input.mean));
  }
  if (job.input.std.empty()) {
    d.Unset("std", "no division");
  } else {
    d.Key("std", Numbers(job.input.std));
  }
  d.Key("layout", InputLayoutName(job.input.layout));
  d.Key("read", job.input.read_direct ? "auto" : "hdf5");
  d.Key("read_threads", job.input.read_threads > 0 ? std::to_string(job.input.read_threads) : "auto");
  d.Close();

  d.Open("output");
  d.Key("path", Scalar(job.output.path));
  d.Key("datasets", Names(job.output.datasets));
  d.Key("overwrite", job.output.overwrite ? "true" : "false");
  if (job.output.dtype) {
    d.Key("dtype", std::string(DTypeName(*job.output.dtype)));
  } else {
    d.Unset("dtype", "each output in its own type");
  }
  d.Close();
  return d.text();
}

}  // namespace mpsbatch
