// The job file (job.yaml): its schema, validation and the --set overrides.
// Every error names the file (or the --set option), the line and the key.
// docs/job-reference.md documents each key; keep the two in step.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/dtype.h"
#include "common/enum_table.h"

namespace mpsbatch {

enum class DeviceRequest { kAuto, kCpu, kCuda, kMps };
enum class Precision { kFp32, kFp16, kBf16 };
enum class InputMode { kAuto, kShared, kScatter };
// How chunks reach ranks: on demand from rank 0 (a slower rank takes fewer), or
// contiguous runs fixed up front.
enum class Schedule { kDynamic, kStatic };
// How a rank runs the model: chosen by timing (auto) or forced.
enum class PathRequest { kAuto, kEager, kFrozen, kCudaGraph, kAoti };
// What rank 0 shows while the job scores (run/progress.h): a status line
// rewritten in place where its log reaches a terminal and a log line every
// progress_interval elsewhere (auto), either of them forced, or nothing.
enum class ProgressStyle { kAuto, kLive, kLines, kOff };
// How image inputs are stored: as the model takes them, or channels last
// (N, H, W, C), turned into (N, C, H, W) on the device.
enum class InputLayout { kNchw, kNhwc };

// How long rank 0 waits for a rank that holds a chunk without finishing it
// before it ends the job (run/stall_watch.h): derived from the chunks' times
// (auto), never (off), or a fixed number of seconds.
struct StallTimeout {
  enum class Mode { kAuto, kOff, kSeconds };
  Mode mode = Mode::kAuto;
  double seconds = 0;  // kSeconds only

  bool operator==(const StallTimeout&) const = default;
};

// What a batch whose forward fails means: the end of the job (fail), or rows
// to find by bisection, fill and mark in the output (skip; run/row_isolation.h).
enum class OnError { kFail, kSkip };
// The output dataset that marks, under on_error: skip, each failed row (1).
inline constexpr const char* kFailedDatasetName = "failed";

// max_failed_rows: how many rows on_error: skip may fill before the job fails
// anyway. Unset (none): no limit; `count`: that many rows; `percent`: that
// share of the job's rows, rounded down.
struct FailedRowsLimit {
  std::optional<int64_t> count;
  std::optional<double> percent;
  // The limit for a job of `rows` rows; nullopt: none.
  std::optional<int64_t> For(int64_t rows) const;
  // "none", "12" or "0.1%", as the job file spells it.
  std::string Text() const;

  bool operator==(const FailedRowsLimit&) const = default;
};

// Each enum's names, as the job file spells them (common/enum_table.h).
inline constexpr EnumName<DeviceRequest> kDeviceRequestNames[] = {{DeviceRequest::kAuto, "auto"},
                                                                  {DeviceRequest::kCpu, "cpu"},
                                                                  {DeviceRequest::kCuda, "cuda"},
                                                                  {DeviceRequest::kMps, "mps"}};
inline constexpr EnumName<Precision> kPrecisionNames[] = {
    {Precision::kFp32, "fp32"}, {Precision::kFp16, "fp16"}, {Precision::kBf16, "bf16"}};
inline constexpr EnumName<InputMode> kInputModeNames[] = {
    {InputMode::kAuto, "auto"}, {InputMode::kShared, "shared"}, {InputMode::kScatter, "scatter"}};
inline constexpr EnumName<Schedule> kScheduleNames[] = {{Schedule::kDynamic, "dynamic"}, {Schedule::kStatic, "static"}};
inline constexpr EnumName<PathRequest> kPathRequestNames[] = {{PathRequest::kAuto, "auto"},
                                                              {PathRequest::kEager, "eager"},
                                                              {PathRequest::kFrozen, "frozen"},
                                                              {PathRequest::kCudaGraph, "cudagraph"},
                                                              {PathRequest::kAoti, "aoti"}};
inline constexpr EnumName<OnError> kOnErrorNames[] = {{OnError::kFail, "fail"}, {OnError::kSkip, "skip"}};
inline constexpr EnumName<ProgressStyle> kProgressStyleNames[] = {{ProgressStyle::kAuto, "auto"},
                                                                  {ProgressStyle::kLive, "live"},
                                                                  {ProgressStyle::kLines, "lines"},
                                                                  {ProgressStyle::kOff, "off"}};
inline constexpr EnumName<InputLayout> kInputLayoutNames[] = {{InputLayout::kNchw, "nchw"},
                                                              {InputLayout::kNhwc, "nhwc"}};

inline const char* DeviceRequestName(DeviceRequest d) { return NameIn<DeviceRequest>(kDeviceRequestNames, d); }
inline const char* PrecisionName(Precision p) { return NameIn<Precision>(kPrecisionNames, p); }
inline const char* InputModeName(InputMode m) { return NameIn<InputMode>(kInputModeNames, m); }
inline const char* ScheduleName(Schedule s) { return NameIn<Schedule>(kScheduleNames, s); }
inline const char* PathRequestName(PathRequest p) { return NameIn<PathRequest>(kPathRequestNames, p); }
inline const char* ProgressStyleName(ProgressStyle p) { return NameIn<ProgressStyle>(kProgressStyleNames, p); }
inline const char* InputLayoutName(InputLayout l) { return NameIn<InputLayout>(kInputLayoutNames, l); }
inline const char* OnErrorName(OnError e) { return NameIn<OnError>(kOnErrorNames, e); }
// The dtype that floating inputs and model parameters take under `p`.
DType PrecisionDType(Precision p);

struct JobConfig {
  // The job as it runs: the file's YAML with --set applied and every path made
  // absolute. Parsing it again (ParseJobText) gives an identical JobConfig, which
  // is how rank 0 hands the job to the other ranks.
  std::string effective_yaml;

  std::string model_path;
  std::string model_compiled;  // an AOTInductor (.pt2) alternative to model_path; "" = none
  DeviceRequest device = DeviceRequest::kAuto;
  Precision precision = Precision::kFp32;
  int64_t batch_size = 128;
  bool batch_size_auto = false;  // each rank searches batch sizes on its device
  PathRequest path = PathRequest::kAuto;
  double calibration_seconds = 30;  // bound on each rank's path and batch-size search
  // Where calibration results are kept between jobs: "auto" (the user's cache
  // folder), "off", or an absolute folder.
  std::string calibration_cache = "auto";
  int64_t chunk_size = 0;  // rows per chunk; 0 = chosen by the planner
  Schedule schedule = Schedule::kDynamic;
  bool fail_on_nonfinite = false;  // a NaN or Inf in an output ends the job
  OnError on_error = OnError::kFail;
  FailedRowsLimit max_failed_rows;  // on_error: skip only
  bool resume = false;              // continue the partial output an earlier run left
  StallTimeout stall_timeout;
  double progress_interval = 10;  // seconds between rank 0's progress lines while scoring; 0: none
  ProgressStyle progress = ProgressStyle::kAuto;
  int threads = 0;  // intra-op threads per rank; 0 = host cores / ranks on the host
  std::string log_level = "info";
  // Where the run report goes (run/run_report.h): "auto" (beside output.path,
  // its extension replaced by .report.json), "off", or an absolute file path.
  std::string report = "auto";

  struct Input {
    std::string path;                   // as the job gives it, for messages: a path, a glob, or a list's entries
    std::vector<std::string> paths;     // input.path's entries (files or globs), absolute, in order
    std::vector<std::string> datasets;  // model inputs, in forward() order
    InputMode mode = InputMode::kAuto;
    std::optional<DType> dtype;   // cast every input to this before the model
    std::optional<double> scale;  // multiply after the cast
    // Per-channel normalisation after the scale: (x - mean) / std, channel on
    // dimension 1 (after the layout change). One value applies to every channel.
    std::vector<double> mean;
    std::vector<double> std;
    InputLayout layout = InputLayout::kNchw;
    bool read_direct = true;  // input.read: auto (straight from the file where possible) or hdf5
    int read_threads = 0;     // threads per direct read; 0 = auto

    bool operator==(const Input&) const = default;
  } input;

  struct Output {
    std::string path;
    std::vector<std::string> datasets;  // one per model output, in order
    bool overwrite = false;
    std::optional<DType> dtype;  // every output converted to it; unset: each in its own type
    // One output file per input file, path a pattern of {stem}, {name} and
    // {index} (config/output_rules.h, run/output_set.h).
    bool per_input = false;

    bool operator==(const Output&) const = default;
  } output;

  // Every field, effective_yaml included.
  bool operator==(const JobConfig&) const = default;
};

// Reads and validates the job file at `path`. `overrides` are "key.path=value"
// strings from --set; their relative paths resolve against the current
// directory, the file's against the file's folder. Throws ConfigError.
JobConfig LoadJobFile(const std::string& path, const std::vector<std::string>& overrides = {});

// Parses job text whose relative paths resolve against `base_dir`. `source` names
// the text in messages (usually the file's path). Throws ConfigError.
JobConfig ParseJobText(const std::string& text, const std::string& source, const std::string& base_dir,
                       const std::vector<std::string>& overrides = {});

}  // namespace mpsbatch
