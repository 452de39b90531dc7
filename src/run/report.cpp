#include "run/report.h"

#include <algorithm>
#include <cstdio>
#include <map>

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

// output.per_input: how many files, the first and the last name ("" otherwise).
std::string ShardOutputsLine(const PlannedJob& p) {
  const auto& files = p.shard_outputs;
  if (files.empty()) return "";
  return "  output files: " + std::to_string(files.size()) + ", one per input file: " +
         (files.size() == 1 ? files.front().path : "first " + files.front().path + ", last " + files.back().path);
}

std::string ResumeLine(const PlannedJob& p) {
  if (!p.job.resume) return "";
  if (!p.resume && p.job.output.per_input)
    return "  resume: no output file of an earlier run to keep under " + p.job.output.path + "; scoring every row";
  if (!p.resume)
    return "  resume: no partial output to resume at " + PartialPath(p.job.output.path) + "; scoring every row";
  // The earlier run's chunk size, which this run keeps (known before the plan's).
  JobPlan earlier = p.plan;
  earlier.chunk_rows = p.resume->chunk_rows;
  const int64_t chunks = PlanChunks(earlier, 1).num_chunks();
  const int64_t done = static_cast<int64_t>(p.resume->done.size());
  return "  resume: " + std::to_string(done) + " of " + std::to_string(chunks) +
         " chunks done by an earlier run; scoring the other " + std::to_string(chunks - done);
}

void PrintDryRun(const PlannedJob& p, int ranks) {
  std::printf("%s", DescribePlan(p.job, p.plan, ranks).c_str());
  if (const std::string files = ShardOutputsLine(p); !files.empty()) std::printf("%s\n", files.c_str());
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

void LogPlanHead(const PlannedJob& p, int ranks) {
  const JobConfig& job = p.job;
  spdlog::info("plan: {} rows of {} on {} rank(s), batch_size {}, path {}, schedule {}", p.plan.rows, job.input.path,
               ranks, job.batch_size_auto ? std::string("auto") : std::to_string(job.batch_size),
               PathRequestName(job.path), ScheduleName(job.schedule));
  if (const std::string files = InputFilesSummary(p.plan); !files.empty()) spdlog::info("  input: {}", files);
  for (const auto& in : p.plan.inputs)
    spdlog::info("  input {}: {} {}", in.name, DTypeName(in.dtype), ShapeString(in.shape));
  for (const auto& src : p.plan.input_sources) spdlog::info("  rows from {} ({})", src.path, src.role);
  spdlog::info("  model: {} on {}, {}; output: {}", job.model_path, DeviceRequestName(job.device),
               PrecisionName(job.precision), job.output.path);
  if (const std::string files = ShardOutputsLine(p); !files.empty()) spdlog::info("{}", files);
}

void LogPlanChunks(const PlannedJob& p, int ranks) {
  // Here, once the plan is complete: a resume refused while planning says nothing of chunks done.
  if (p.job.resume) spdlog::info("{}", ResumeLine(p));
  const ChunkPlan chunks = PlanChunks(p.plan, ranks);
  const int64_t to_score = chunks.num_chunks() - (p.resume ? static_cast<int64_t>(p.resume->done.size()) : 0);
  std::string idle;
  if (const int n = IdleRanks(to_score, ranks); n > 0)
    idle = fmt::format("; {} of {} rank(s) will idle: {} chunk(s) to score (a chunk holds whole batches)", n, ranks,
                       to_score);
  spdlog::info("  chunks: {} of up to {} rows{}", chunks.num_chunks(), p.plan.chunk_rows, idle);
  for (const auto& out : p.plan.outputs) {
    Shape shape{p.plan.rows};
    shape.insert(shape.end(), out.row_shape.begin(), out.row_shape.end());
    spdlog::info("  output {}: {} {}", out.name, DTypeName(out.dtype), ShapeString(shape));
  }
}

void LogStartUp(const PlannedJob& p, const GatheredDevices& devices, int threads, const JobTimes& times) {
  const auto seconds = JobTimes::Seconds;
  // Checking the input files takes a share of planning only when they are
  // several. The other ranks load their engines while rank 0 plans: what is
  // left of that once it has planned.
  const std::string inputs =
      p.plan.input_files.size() > 1 ? fmt::format("inputs {:.2f} s, ", p.inputs_seconds) : std::string();
  spdlog::info("  start-up: {:.2f} s to plan (rank 0's {}engine {:.2f} s, probe {:.2f} s), {}{:.2f} s{}",
               seconds(times.start, times.planned), inputs, p.engine_seconds, p.probe_seconds,
               devices.names.size() > 1 ? "the others' engines ready " : "",
               seconds(times.planned, times.engines_ready), devices.names.size() > 1 ? " later" : " for the engines");
  spdlog::info("  engines: {} ({}), {} intra-op thread(s) per rank", SummarizeDevices(devices.names),
               p.engine->format(), threads);
  for (const auto& info : p.plan.inputs)
    spdlog::info("  {} read {} (mode {})", info.name, p.input->ReadMethod(info), InputModeName(p.plan.mode));
  if (!devices.bound_to_one.empty())
    spdlog::warn(
        "rank(s) {} may run on one core only, which their reading, sending and computing threads then share "
        "(mpirun binds 1 or 2 processes to a core each by default): launch with mpirun --bind-to none, or "
        "--map-by slot:PE=<cores per rank>",
        devices.bound_to_one);
}

void LogSharedGpus(const std::vector<SharedGpu>& shared) {
  const std::string line = SharingLine(shared);
  if (line.empty()) return;
  const bool without = std::any_of(shared.begin(), shared.end(), [](const SharedGpu& g) { return !g.mps_daemon; });
  if (without)
    spdlog::warn("{}", line);
  else
    spdlog::info("  {}", line);
}

void LogComputingRanks(const ComputingRanks& computing) {
  if (!computing.line.empty()) spdlog::info("  {}", computing.line);
}

void LogCalibrating(const JobConfig& job) {
  // The bound holds for timing; building a path (freezing, a graph's capture) is not cut short.
  spdlog::info("calibrating (at most {:g} s of timing, calibration_seconds)", job.calibration_seconds);
}

void LogCalibration(const JobTimes& times, const RankCalibration& calibration) {
  const CalibrationReport& r = calibration.report;
  const Calibration& c = r.paths;
  std::string others;
  for (const auto& t : c.paths) {
    if (t.path == c.chosen && t.rejected.empty()) continue;
    others += others.empty() ? "" : ", ";
    others +=
        t.rejected.empty() ? fmt::format("{} {:.0f}", t.path, t.rows_per_second) : t.path + " rejected: " + t.rejected;
  }
  std::string path = c.chosen;
  if (c.timed) path += fmt::format(" {:.0f} rows/s", c.rows_per_second);
  if (!c.timed && r.cache.empty()) path += " (untimed)";  // forced: built and checked, not timed
  if (!others.empty()) path += " (" + others + ")";
  spdlog::info("  calibration: {:.2f} s; batch {}{}, path {}{}", times.calibration_seconds, r.batch_size,
               r.batch_search.empty() ? "" : " (auto: " + r.batch_search + ")", path,
               r.cache.empty() ? "" : "; " + r.cache);
}

void LogNonFinite(int64_t values, int64_t first_row) {
  if (values > 0)
    spdlog::warn(
        "the outputs hold {} non-finite value(s) (NaN or Inf), the first in row {}; set fail_on_nonfinite: "
        "true to make that an error",
        values, first_row);
}

void LogSummary(const PlannedJob& p, int ranks, double total_seconds, double loop_seconds,
                const std::vector<double>& rows, const std::vector<double>& compute,
                const std::vector<std::string>& paths) {
  double scored = 0;
  for (double r : rows) scored += r;
  LogResult(
      fmt::format("done: {} rows on {} rank(s) in {:.2f} s, {:.0f} rows/s (scoring {:.2f} s, {:.0f} rows/s) -> {}",
                  p.plan.rows, ranks, total_seconds, scored / total_seconds, loop_seconds, scored / loop_seconds,
                  p.shard_outputs.empty() ? p.job.output.path
                                          : std::to_string(p.shard_outputs.size()) + " files, " + p.job.output.path));
  if (p.resume)
    spdlog::info("  {} rows scored now, {} taken from the earlier run's {} chunks", static_cast<int64_t>(scored),
                 p.plan.rows - static_cast<int64_t>(scored), p.resume->done.size());
  for (size_t r = 0; r < rows.size(); ++r)
    spdlog::debug("  rank {}: {} rows, compute {:.3f} s ({:.0f} rows/s); {}", r, static_cast<int64_t>(rows[r]),
                  compute[r], compute[r] > 0 ? rows[r] / compute[r] : 0.0,
                  r == 0 ? "calibration as logged above" : paths[r]);
}

void LogTimes(const JobTimes& t) {
  const auto seconds = JobTimes::Seconds;
  const auto end = JobTimes::Clock::now();
  spdlog::info(
      "  time: {}plan {:.2f}, engines {:.2f}, calibration {:.2f}, output {:.2f}, scoring {:.2f}, finishing {:.2f} s",
      t.before_job ? fmt::format("{:.2f} s before the job, ", *t.before_job) : "", seconds(t.start, t.planned),
      seconds(t.planned, t.engines_ready), t.calibration_seconds,
      seconds(t.engines_ready, t.scoring) - t.calibration_seconds, seconds(t.scoring, t.scored),
      seconds(t.scored, end));
  spdlog::debug("  finishing: totals {:.2f} s, sealing {:.2f}, the other ranks' exit {:.2f}, publishing {:.2f}",
                seconds(t.scored, t.gathered), seconds(t.gathered, t.sealed), seconds(t.sealed, t.outlived),
                seconds(t.outlived, end));
}

}  // namespace mpsbatch
