#include "run/calibrate.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <sstream>
#include <thread>

#include "comm/calibration_exchange.h"
#include "common/error.h"
#include "mpsbatch/version.h"
#include "plan/resume_identity.h"
#include "run/calibration_cache.h"

namespace mpsbatch {

namespace {

// Rank 0's first `rows` rows of every input, sent to every rank (see
// ShareArrays): none where rank 0 cannot read, which keeps the error in
// `*failed`.
std::vector<HostArray> ShareRows(Communicator& comm, const JobPlan& plan, InputSet* input, int64_t rows,
                                 std::exception_ptr* failed) {
  std::vector<std::pair<DType, Shape>> layouts;
  for (const auto& info : plan.inputs) {
    Shape shape = info.shape;
    shape[0] = rows;
    layouts.emplace_back(info.dtype, std::move(shape));
  }
  return ShareArrays(
      comm, layouts, [&](size_t i) { return input->ReadRows(plan.inputs[i], 0, rows); }, failed);
}

std::vector<ArrayView> Views(const std::vector<HostArray>& arrays, int64_t rows) {
  std::vector<ArrayView> views;
  for (const auto& a : arrays) views.push_back(RowSlice(a, 0, rows));
  return views;
}

// Everything a measurement depends on, one fact per line.
std::string CacheKey(const Engine& engine, const JobConfig& job, const JobPlan& plan, int64_t rows, int64_t batch_bound,
                     int threads) {
  std::ostringstream k;
  k << "mpsbatch " << MPSBATCH_VERSION << ", libtorch " << LibtorchVersion() << "\n"
    << "device " << DeviceKindName(engine.device_kind()) << " " << engine.device_model() << "\n"
    << "processor " << HostProcessorModel() << ", " << threads << " intra-op thread(s)\n"
    << "model " << plan.model_sha256 << " compiled " << plan.compiled_sha256 << "\n"
    << "precision " << PrecisionName(job.precision) << ", path " << PathRequestName(job.path) << ", batch "
    << (job.batch_size_auto ? "auto up to " + std::to_string(rows) + " of " + std::to_string(batch_bound) +
                                  ", chunks of " + std::to_string(plan.chunk_rows)
                            : std::to_string(rows))
    << "\n";
  for (const auto& in : plan.inputs) k << "input " << DTypeName(in.dtype) << " " << ShapeString(in.row_shape()) << "\n";
  k << InputConversionIdentity(job) << "output.dtype " << OutputDTypeSetting(job) << "\n";
  return k.str();
}

std::string CacheFolder(const JobConfig& job) {
  if (job.calibration_cache == "off") return "";
  if (job.calibration_cache == "auto") return DefaultCalibrationCacheFolder();
  return job.calibration_cache;
}

// True if a path lost to something of the moment (the time budget, memory a
// job beside this one held): such a measurement is not worth keeping.
bool RejectedForNow(const Calibration& c) {
  return std::any_of(c.paths.begin(), c.paths.end(), [](const PathTiming& p) { return p.for_now; });
}

// A leader's calibration: from the cache when it holds this measurement and
// the choice still builds and agrees with eager, else measured (and stored).
CalibrationReport Measure(Engine& engine, const JobConfig& job, const JobPlan& plan,
                          const std::vector<HostArray>& sample, int64_t rows, int64_t batch_bound, int threads,
                          int ranks) {
  CalibrationReport r;
  const std::string folder = CacheFolder(job);
  const CalibrationCache cache(folder, folder.empty() ? "" : CacheKey(engine, job, plan, rows, batch_bound, threads));
  if (auto hit = cache.Load(); hit && hit->batch_size <= rows) {
    try {
      r.batch_size = hit->batch_size;
      r.paths = engine.Adopt(hit->path, Views(sample, r.batch_size));
      r.cache = "from the cache " + cache.file() + " (measured: " + hit->summary + ")";
      return r;
    } catch (const Error& e) {
      r.cache = "the cached choice (" + hit->path + ") failed, measured again: " + e.what() + "; ";
    }
  }
  const auto start = std::chrono::steady_clock::now();
  // The job's expected time, at the rates measured, bounds calibration
  // (CalibrationBudget): a slow model's short job is not spent timing it.
  CalibrationBudget budget(job.calibration_seconds);
  budget.job_rows = static_cast<double>(plan.rows);
  budget.ranks = ranks;
  r.batch_size = rows;
  if (job.batch_size_auto) {
    CalibrationBudget half = budget;  // the search takes up to half, the paths the rest
    half.seconds /= 2;
    half.share /= 2;
    half.floor_seconds /= 2;
    r.batch_size = SearchBatchSize(engine, sample, rows, plan.chunk_rows, half, &r.batch_search);
    budget.spent = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  r.paths = engine.Calibrate(Views(sample, r.batch_size), budget);
  if (cache.enabled() && (r.paths.timed || job.batch_size_auto)) {  // else nothing was measured
    const std::string summary = "batch " + std::to_string(r.batch_size) +
                                (r.batch_search.empty() ? "" : " (auto: " + r.batch_search + ")") + ", path " +
                                r.paths.Summary();
    const std::string problem = RejectedForNow(r.paths) ? "a path was rejected for time or memory"
                                                        : cache.Store({r.batch_size, r.paths.chosen, summary});
    r.cache += problem.empty() ? "stored in " + cache.file() : "not cached: " + problem;
  }
  return r;
}

}  // namespace

RankCalibration CalibrateRanks(Communicator& comm, Engine& engine, const JobConfig& job, const JobPlan& plan,
                               InputSet* input, int64_t batch_bound, int threads, bool time_batch) {
  RankCalibration out;
  out.leader = ElectDeviceLeader(comm, engine.device_name() + " " + engine.device_uuid());

  // Every collective below runs on every rank whatever fails; a rank that
  // failed throws at the end (the caller's Phase then ends the job).
  std::exception_ptr failed;
  // batch_size: auto searches up to a chunk's rows: no batch is larger.
  const int64_t rows =
      std::min(plan.rows, job.batch_size_auto ? std::min(batch_bound, plan.chunk_rows) : job.batch_size);
  const std::vector<HostArray> sample = ShareRows(comm, plan, input, rows, &failed);
  const bool have_rows = sample.size() == plan.inputs.size();

  // The leaders measure. (The others wait here: on a shared device, their
  // work would only disturb the timing.)
  std::string mine = "-";
  if (out.leader == comm.rank() && have_rows) {
    try {
      // On a thread of its own, as the rank loop runs batches on its compute
      // thread (with `threads`: Engine::UseOnThisThread), so that the timing
      // sees what the loop will run at.
      std::exception_ptr measure_failed;
      std::jthread([&] {
        try {
          engine.UseOnThisThread();
          out.report = Measure(engine, job, plan, sample, rows, batch_bound, threads, comm.size());
        } catch (...) {
          measure_failed = std::current_exception();
        }
      }).join();
      if (measure_failed) std::rethrow_exception(measure_failed);
      CalibrationReport& r = out.report;
      if (r.paths.timed && r.paths.rows_per_second > 0)
        r.batch_seconds = static_cast<double>(r.batch_size) / r.paths.rows_per_second;
      else if (time_batch)  // a few batches, at most a twentieth of a second past the first
        r.batch_seconds =
            static_cast<double>(r.batch_size) / MeasureRowsPerSecond(engine, Views(sample, r.batch_size), 0.05);
      char seconds[32];
      std::snprintf(seconds, sizeof seconds, "%.9g", r.batch_seconds);
      mine = std::to_string(r.batch_size) + "\n" + seconds + "\n" + r.paths.chosen;
    } catch (...) {
      failed = std::current_exception();
    }
  }
  comm.QuietBarrier();  // the others wait for the leaders without taking their CPU
  const std::vector<std::string> fields = ShareChoices(comm, mine);

  // The others build their leader's choice ("-": the leader failed, and
  // reports it).
  if (failed) std::rethrow_exception(failed);
  // "batch\nseconds\npath" from each leader.
  out.batch_seconds.assign(fields.size(), 0);
  for (size_t r = 0; r < fields.size(); ++r) {
    const size_t first = fields[r].find('\n'), second = fields[r].find('\n', first + 1);
    if (second == std::string::npos) continue;
    out.batch_seconds[r] = std::stod(fields[r].substr(first + 1, second - first - 1));
    if (static_cast<int>(r) != out.leader || out.leader == comm.rank()) continue;
    out.report.batch_size = std::stoll(fields[r].substr(0, first));
    out.report.batch_seconds = out.batch_seconds[r];
    out.report.paths = engine.Adopt(fields[r].substr(second + 1), Views(sample, out.report.batch_size));
  }
  return out;
}

std::string CalibrationLine(const RankCalibration& c, int rank) {
  std::string s = "batch " + std::to_string(c.report.batch_size);
  if (c.leader != rank)
    return s + ", path " + c.report.paths.chosen + ", as rank " + std::to_string(c.leader) + " measured";
  if (!c.report.batch_search.empty()) s += " (auto: " + c.report.batch_search + ")";
  s += ", path " + c.report.paths.Summary();
  return c.report.cache.empty() ? s : s + "; " + c.report.cache;
}

}  // namespace mpsbatch
