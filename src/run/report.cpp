#include "run/report.h"

#include <cstdio>
#include <map>
#include <sstream>

#include "common/log.h"
#include "infer/engine.h"
#include "mpsbatch/version.h"
#include "plan/chunk_plan.h"

namespace mpsbatch {

double JobTimes::Seconds(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

std::string SummarizeDevices(const std::vector<std::string>& names) {
  std::map<std::string, int> counts;
  for (const auto& n : names) ++counts[n];
  std::string s;
  for (const auto& [name, n] : counts) s += (s.empty() ? "" : ", ") + name + " x" + std::to_string(n);
  return s;
}

std::string ResumeLine(const PlannedJob& p) {
  if (!p.job.resume) return "";
  if (!p.resume) return "  resume: no partial output at " + PartialPath(p.job.output.path) + "; scoring every row";
  const int64_t chunks = PlanChunks(p.plan, 1).num_chunks();
  const int64_t done = static_cast<int64_t>(p.resume->done.size());
  return "  resume: " + std::to_string(done) + " of " + std::to_string(chunks) +
         " chunks done by an earlier run; scoring the other " + std::to_string(chunks - done);
}

void PrintDryRun(const PlannedJob& p, int ranks) {
  std::printf("%s", DescribePlan(p.job, p.plan, ranks).c_str());
  if (p.job.resume) std::printf("%s\n", ResumeLine(p).c_str());
  std::printf("model: %s on %s; dry run: nothing written\n", p.engine->format().c_str(),
              p.engine->device_name().c_str());
}

void WriteHeaderAttributes(ResultWriter& w, const PlannedJob& p, int ranks, const std::string& start,
                           const std::vector<std::string>& devices) {
  w.SetAttribute("job_yaml", p.job.effective_yaml);
  w.SetAttribute("model_path", p.job.model_path);
  w.SetAttribute("model_sha256", p.plan.model_sha256);
  w.SetAttribute("input_path", p.job.input.path);
  w.SetAttribute("input_mode", std::string(InputModeName(p.plan.mode)));
  w.SetAttribute("schedule", std::string(ScheduleName(p.job.schedule)));
  w.SetAttribute("mpsbatch_version", std::string(MPSBATCH_VERSION));
  w.SetAttribute("libtorch_version", LibtorchVersion());
  w.SetAttribute("mpi_version", MpiLibraryVersion());
  w.SetAttribute("hdf5_version", Hdf5LibraryVersion());
  w.SetAttribute("devices", SummarizeDevices(devices));
  w.SetAttribute("precision", std::string(PrecisionName(p.job.precision)));
  w.SetAttribute("ranks", static_cast<int64_t>(ranks));
  w.SetAttribute("rows", p.plan.rows);
  w.SetAttribute("start_time", start);
}

void LogPlan(const PlannedJob& p, int ranks, const GatheredDevices& devices, int threads, const JobTimes& times,
             const RankCalibration& calibration) {
  const auto seconds = JobTimes::Seconds;
  std::istringstream lines(DescribePlan(p.job, p.plan, ranks));
  for (std::string line; std::getline(lines, line);) spdlog::info("{}", line);
  spdlog::info("  engines: {} ({}), {} intra-op thread(s) per rank", SummarizeDevices(devices.names),
               p.engine->format(), threads);
  for (const auto& info : p.plan.inputs) spdlog::info("  input '{}': read {}", info.name, p.input->ReadMethod(info));
  if (!devices.bound_to_one.empty())
    spdlog::warn(
        "rank(s) {} may run on one core only, which their reading, sending and computing threads then share "
        "(mpirun binds 1 or 2 processes to a core each by default): launch with mpirun --bind-to none, or "
        "--map-by slot:PE=<cores per rank>",
        devices.bound_to_one);
  spdlog::info(
      "  start-up: {:.2f} s to plan (rank 0's engine {:.2f} s, probe {:.2f} s), {:.2f} s for the model and "
      "engines on every rank",
      seconds(times.start, times.planned), p.engine_seconds, p.probe_seconds,
      seconds(times.planned, times.engines_ready));
  spdlog::info("  calibration: {:.2f} s; rank 0: {}", times.calibration_seconds, CalibrationLine(calibration, 0));
  if (p.job.resume) spdlog::info("{}", ResumeLine(p));
}

void LogNonFinite(int64_t values, int64_t first_row) {
  if (values > 0)
    spdlog::warn(
        "the outputs hold {} non-finite value(s) (NaN or Inf), the first in row {}; set fail_on_nonfinite: "
        "true to make that an error",
        values, first_row);
}

void LogSummary(const PlannedJob& p, double total_seconds, double loop_seconds, const std::vector<double>& rows,
                const std::vector<double>& compute, const std::vector<std::string>& paths) {
  double scored = 0;
  for (double r : rows) scored += r;
  spdlog::info("done: {} rows in {:.3f} s ({:.1f} rows/s; scoring {:.3f} s, {:.1f} rows/s) -> {}", p.plan.rows,
               total_seconds, scored / total_seconds, loop_seconds, scored / loop_seconds, p.job.output.path);
  if (p.resume)
    spdlog::info("  {} rows scored now, {} taken from the earlier run's {} chunks", static_cast<int64_t>(scored),
                 p.plan.rows - static_cast<int64_t>(scored), p.resume->done.size());
  for (size_t r = 0; r < rows.size(); ++r)
    spdlog::info("  rank {}: {} rows, compute {:.3f} s ({:.1f} rows/s); {}", r, static_cast<int64_t>(rows[r]),
                 compute[r], compute[r] > 0 ? rows[r] / compute[r] : 0.0, paths[r]);
}

void LogTimes(const JobTimes& t) {
  const auto seconds = JobTimes::Seconds;
  spdlog::info(
      "  time: {}plan {:.2f} s, engines {:.2f} s, calibration {:.2f} s, output file {:.2f} s, scoring {:.2f} s, "
      "finishing {:.2f} s",
      t.before_job ? fmt::format("{:.2f} s before the job (process start, libraries, MPI start), ", *t.before_job) : "",
      seconds(t.start, t.planned), seconds(t.planned, t.engines_ready), t.calibration_seconds,
      seconds(t.engines_ready, t.scoring) - t.calibration_seconds, seconds(t.scoring, t.scored),
      seconds(t.scored, JobTimes::Clock::now()));
}

}  // namespace mpsbatch
