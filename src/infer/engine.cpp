// The parts of Engine that need no torch: names, Run, the rate measurement
// and the calibration summary. Code that drives an engine (the rank loop, its
// tests with a fake engine) links these without libtorch.
#include "infer/engine.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "common/error.h"
#include "infer/elapsed.h"

namespace mpsbatch {

const char* DeviceKindName(DeviceKind k) {
  switch (k) {
    case DeviceKind::kCpu: return "cpu";
    case DeviceKind::kCuda: return "cuda";
    case DeviceKind::kMps: return "mps";
  }
  return "?";
}

DType FedDType(const EngineOptions& options, DType stored) {
  if (options.input_dtype) return *options.input_dtype;
  const bool normalises = options.input_scale || !options.input_mean.empty() || !options.input_std.empty();
  if (IsFloating(stored) || normalises) return PrecisionDType(options.precision);
  return stored;
}

double CalibrationBudget::Left(double rows_per_second) const {
  double limit = seconds;
  if (job_rows > 0 && rows_per_second > 0)
    limit = std::min(limit, std::max(floor_seconds, share * job_rows / (rows_per_second * std::max(1, ranks))));
  return limit - spent;
}

std::vector<HostArray> Engine::Run(const std::vector<ArrayView>& inputs) {
  if (in_flight() != 0) throw InternalError("engine: Run with batches in flight");
  Start(inputs);
  return Finish();
}

double MeasureRowsPerSecond(Engine& engine, const std::vector<ArrayView>& batch, double seconds) {
  const int64_t rows = batch.front().shape.at(0);
  engine.Run(batch);  // warm-up: the JIT's profiling run, the allocator, cuDNN's choices
  const auto t0 = std::chrono::steady_clock::now();
  int n = 0;
  // A batch slower than `seconds` is timed once: calibrating a slow model
  // must not cost a job more batches than its budget allows.
  while (n < 1 || (n < 50 && Seconds(t0) < seconds)) {
    if (engine.in_flight() == engine.max_in_flight()) engine.Finish();
    engine.Start(batch);
    ++n;
  }
  while (engine.in_flight() > 0) engine.Finish();
  return static_cast<double>(rows) * n / Seconds(t0);
}

std::string Calibration::Summary() const {
  auto rate = [](double r) { return std::to_string(static_cast<int64_t>(r + 0.5)) + " rows/s"; };
  // A forced path is not timed: "frozen (forced; checked in 0.21 s)".
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.2f s", seconds);
  if (!timed) {
    std::string s = chosen + " (untimed; built and checked in " + secs + ")";
    for (const auto& p : paths)
      if (!p.rejected.empty()) s += "; " + p.path + " rejected: " + p.rejected;
    return s;
  }
  std::string s = chosen + " " + rate(rows_per_second) + " at batch " + std::to_string(batch_rows) + " (";
  bool first = true;
  for (const auto& p : paths) {
    s += first ? "" : ", ";
    first = false;
    // Appended piece by piece: GCC 12 at -O3 takes `" " + rate(...)` here
    // for an overlapping memcpy (-Werror=restrict, a false positive).
    s += p.path;
    if (p.rejected.empty()) {
      s += " ";
      s += rate(p.rows_per_second);
    } else {
      s += ": rejected: ";
      s += p.rejected;
    }
  }
  return s + "; calibrated in " + secs + ")";
}

}  // namespace mpsbatch
