#include "run/job_runner.h"

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "comm/file_distribution.h"
#include "comm/input_mode.h"
#include "comm/job_exchanges.h"
#include "comm/outlive.h"
#include "comm/report_exchange.h"
#include "common/host.h"
#include "common/log.h"
#include "common/mps_daemon.h"
#include "common/stop_signal.h"
#include "common/terminal.h"
#include "config/job.h"
#include "infer/engine.h"
#include "infer/prewarm.h"
#include "plan/chunk_plan.h"
#include "plan/gpu_sharing.h"
#include "plan/input_match.h"
#include "plan/job_options.h"
#include "plan/job_plan.h"
#include "plan/model_file.h"
#include "plan/plan_job.h"
#include "plan/planned_job.h"
#include "run/bad_rows.h"
#include "run/calibrate.h"
#include "run/output_file.h"
#include "run/output_set.h"
#include "run/progress.h"
#include "run/rank_loop.h"
#include "run/report.h"
#include "run/run_attributes.h"
#include "run/run_report.h"
#include "run/timeline.h"

namespace mpsbatch {

namespace {

// Decides shared or scatter, opening the input on every rank that reads it.
void SettleInputMode(Communicator& comm, PlannedJob& p) {
  const InputMode mode = ChooseInputMode(
      comm, p.job.input.mode, [&] { return InputProblem(p.job, p.plan, p.input); }, p.job.input.path);
  if (mode == InputMode::kScatter && comm.rank() != 0) p.input.reset();
  p.plan.mode = mode;
}

// Every rank's bytes of the model (and of model.compiled, if any).
void DistributeModel(Communicator& comm, PlannedJob& p) {
  DistributeFile(
      comm, "model.path", p.job.model_path, [&] { return p.hashes.get().first; }, p.plan.model_size, p.model_identity,
      p.model_bytes, [&](std::string* identity) { return ReadModelFile(p.job.model_path, "model.path", identity); });
  if (!p.job.model_compiled.empty())
    DistributeFile(
        comm, "model.compiled", p.job.model_compiled, [&] { return p.hashes.get().second; }, p.plan.compiled_size,
        p.compiled_identity, p.compiled_bytes,
        [&](std::string* identity) { return ReadModelFile(p.job.model_compiled, "model.compiled", identity); });
}

// This rank's loop over its chunks. Rank 0 stops on a signal keeping what is
// finished for a --resume; the others have nothing to save.
RankStats Score(Communicator& comm, PlannedJob& p, const ChunkPlan& chunks, int64_t batch_size, size_t depth,
                std::vector<bool> computes, std::unique_ptr<ResultWriter>& writer, std::shared_ptr<OutputSet>& shards,
                RankTimeline& timeline, RunReport& report) {
  std::optional<StopSignals> stop_signals;
  if (comm.rank() == 0) stop_signals.emplace();
  std::vector<bool> done;
  if (p.resume) {
    done.assign(static_cast<size_t>(chunks.num_chunks()), false);
    for (int64_t id : p.resume->done) done[static_cast<size_t>(id)] = true;
  }
  ComputeSettings compute;
  compute.batch_size = batch_size;
  compute.fail_on_nonfinite = p.job.fail_on_nonfinite;
  compute.skip_failed_rows = p.job.on_error == OnError::kSkip;
  try {
    // Rank 0's log decides: it is the one that shows progress.
    const ProgressStyle style =
        comm.rank() == 0 ? ResolveProgressStyle(p.job.progress, p.job.progress_interval, StderrReachesTerminal())
                         : ProgressStyle::kOff;
    RankStats stats =
        RunRankLoop({comm, *p.engine, p.plan, chunks, compute, p.input.get(),
                     shards ? static_cast<ChunkSink*>(shards.get()) : writer.get(), depth, p.job.schedule,
                     std::move(done), p.job.stall_timeout, ProgressEvery(style, p.job.progress_interval),
                     style == ProgressStyle::kLive, p.job.max_failed_rows, &timeline, std::move(computes)});
    if (comm.rank() == 0) ThrowIfStopSignalled();
    return stats;
  } catch (const StopRequested& s) {
    if (shards)
      StopKeepingShards(*shards, p.output_lock, s.signal(),
                        [&] { report.WriteFailed("stopped by signal " + std::to_string(s.signal())); });
    StopKeepingPartial(writer, p.output_lock, p.job.output.path, chunks.num_chunks(), s.signal(),
                       [&] { report.WriteFailed("stopped by signal " + std::to_string(s.signal())); });
  }
}

// Which GPU each rank uses, for FindSharedGpus.
std::vector<RankGpu> RankGpus(const GatheredDevices& d) {
  std::vector<RankGpu> gpus;
  for (size_t r = 0; r < d.gpus.size(); ++r) gpus.push_back({d.hosts[r], d.gpus[r], d.mps_daemon[r]});
  return gpus;
}

}  // namespace

// Whatever escapes the steps below aborts the job by name (a rank unwinding
// into MPI_Finalize while others wait in a collective would hang the job).
void RunJob(Communicator& comm, const CliOptions& cli) try {
  AbortJobOnTerminate(comm);
  // Brings the device up beside reading and planning the job; declared
  // before the job, so that its thread is joined after the engine is gone,
  // on every way out (a process must not exit while it is inside libtorch).
  DevicePrewarm prewarm;
  const auto now = [] { return JobTimes::Clock::now(); };
  JobTimes times;
  times.start = now();
  times.before_job = SecondsSinceProcessStart();
  const std::string start_time = Timestamp();
  PlannedJob p;
  p.prewarm = &prewarm;
  p.restart = cli.restart;
  p.dry_run = cli.dry_run;
  RankTimeline timeline;
  RunReport report(comm.rank(), comm.host(), cli, p, times, timeline, start_time);

  // 1. The job file, read and validated on rank 0, then the same text on all.
  std::string effective, source = cli.job_path;
  Agree(comm, "read-job", [&] {
    if (comm.rank() == 0) effective = LoadJobFile(cli.job_path, cli.overrides).effective_yaml;
  });
  Collective(comm, "share-job", [&] { ShareFromRankZero(comm, effective); });
  Agree(comm, "parse-job", [&] {
    p.job = ParseJobText(effective, source, "/");
    SetLogLevel(EffectiveLogLevel(p.job.log_level, cli.verbosity));
    if (!cli.dry_run || comm.rank() == 0) prewarm.Start(MakeEngineOptions(p.job, comm));
  });

  // 2. The plan, on rank 0, then on every rank: first what every rank needs
  // to load the model, then, while the others load and warm their engines,
  // rank 0's engine, its probe batch and the rest of the plan.
  // The log's plan comes first, before any model is loaded: a slow start-up
  // is then never silent.
  const bool log_plan = comm.rank() == 0 && !cli.dry_run;
  Agree(comm, "plan", [&] {
    if (comm.rank() == 0)
      PlanFiles(p, [&] {
        if (log_plan) LogPlanHead(p, comm.size());
      });
  });
  if (cli.dry_run) {  // rank 0 alone loads the model
    Agree(comm, "plan-model", [&] {
      if (comm.rank() == 0) PlanModel(comm, p);
    });
    if (comm.rank() == 0) PrintDryRun(p, comm.size());
    return;
  }
  const auto share_plan = [&] {
    std::string plan_bytes = comm.rank() == 0 ? SerializePlan(p.plan) : "";
    ShareFromRankZero(comm, plan_bytes);
    if (comm.rank() != 0) p.plan = DeserializePlan(plan_bytes);
  };
  Collective(comm, "share-plan", share_plan);

  // 3. Input mode, model bytes; then the engines, on every rank at once.
  Collective(comm, "choose-input-mode", [&] { SettleInputMode(comm, p); });
  Collective(comm, "distribute-model", [&] { DistributeModel(comm, p); });
  // On rank 0 the plan ends with its probe; on the others it arrives once
  // their engines are warm (their start-up's "engines" is theirs, and the
  // wait for rank 0's plan).
  if (comm.rank() != 0) times.planned = now();
  Agree(comm, "plan-model", [&] {
    if (comm.rank() == 0) {
      PlanModel(comm, p);
      times.planned = now();
    } else {
      p.engine = CreateEngine(p, comm);
      WarmEngine(p);
    }
  });
  if (log_plan) LogPlanChunks(p, comm.size());
  Collective(comm, "complete-plan", share_plan);  // with the input mode rank 0 settled as all did
  p.model_bytes.reset();
  p.compiled_bytes.reset();
  GatheredDevices devices;
  Collective(comm, "gather-devices", [&] {
    const bool one_core = UsableCores() == 1 && HostCores() > 1;
    const bool cuda = p.engine->device_kind() == DeviceKind::kCuda;
    devices = GatherDevices(
        comm, {p.engine->device_name(), p.engine->device_uuid(), cuda && FindMpsDaemon().serving, one_core});
  });
  const std::vector<SharedGpu> shared_gpus = FindSharedGpus(RankGpus(devices));

  // 4. Path selection: one rank per device measures, the others follow.
  times.engines_ready = now();
  if (comm.rank() == 0) {
    LogStartUp(p, devices, MakeEngineOptions(p.job, comm).threads, times);
    LogSharedGpus(shared_gpus);
    LogCalibrating(p.job);
  }
  RankCalibration calibration;
  Agree(
      comm, "calibrate",
      [&] {
        calibration = CalibrateRanks(comm, *p.engine, p.job, p.plan, p.input.get(), AutoBatchBound(p.plan),
                                     MakeEngineOptions(p.job, comm).threads,
                                     LeadsGpuSharedWithoutDaemon(shared_gpus, comm.rank()));
      },
      StepBody::kCompletesCollectives);
  times.calibration_seconds = JobTimes::Seconds(times.engines_ready, now());

  // 5. The output file, on rank 0.
  std::unique_ptr<ResultWriter> writer;
  std::shared_ptr<OutputSet> shards;  // output.per_input: one file per input file
  Agree(comm, "create-output", [&] {
    if (comm.rank() != 0) return;
    if (p.job.output.per_input) {
      shards = CreateOutputSet(p, comm.size(), start_time, devices.names, cli.command_line);
      report.ShowShards(shards);
      return;
    }
    CreateOutput(writer, p, comm.size(), start_time, devices.names);
    WriteRunAttributes(*writer, p, cli.command_line, start_time);
  });
  // The last line before scoring: the output's partial file exists by now.
  // Rank 0 hands out the chunks: it alone needs to know who computes.
  ComputingRanks computing;
  if (comm.rank() == 0) {
    LogCalibration(times, calibration);
    computing = ChooseComputingRanks(shared_gpus, comm.size(), calibration.batch_seconds);
    LogComputingRanks(computing);
  }
  const ChunkPlan chunks = PlanChunks(p.plan, comm.size());

  // 6. Score. From here a failing rank aborts the job. Rank 0 hands out
  // chunks by the depth every rank holds to, so they agree on it.
  size_t depth = 0;
  Collective(comm, "agree-depth", [&] {
    depth = AgreeDepth(comm, ChunksInFlight(chunks, calibration.report.batch_size,
                                            p.plan.input_row_bytes() + p.plan.output_row_bytes()));
  });
  times.scoring = now();
  RankStats stats;
  Collective(
      comm, "score",
      [&] {
        stats = Score(comm, p, chunks, calibration.report.batch_size, depth, std::move(computing.computes), writer,
                      shards, timeline, report);
      },
      [&] {
        if (comm.rank() == 0) report.WriteFailed(LastFailureLine());
        KeepShards(shards.get());
        KeepPartial(writer, p.output_lock);
      });
  times.scored = now();
  JobTotals totals;
  Collective(comm, "gather-stats", [&] {
    totals = GatherTotals(
        comm, {static_cast<double>(stats.rows), stats.compute_seconds, CalibrationLine(calibration, comm.rank()),
               stats.nonfinite.values, stats.nonfinite.first_row < 0 ? p.plan.rows : stats.nonfinite.first_row});
    report.Gathered(GatherRankReports(
        comm, report.RankPart({p.engine->device_name(), calibration.report.paths.chosen,
                               CalibrationLine(calibration, comm.rank()), calibration.report.batch_size, stats.rows,
                               stats.chunks, stats.compute_seconds})));
  });
  times.gathered = now();
  if (comm.rank() == 0) LogNonFinite(totals.nonfinite_values, totals.first_nonfinite_row);

  // 7. Commit the output, once every rank has agreed that all went well (a
  // rank failing beside the rename would leave a finished output behind a
  // failed job): rank 0 seals the file, all ranks agree, the others end MPI
  // and exit, and only then does rank 0 move the file into place, so that no
  // other process of its host can fail the job once the output is there
  // (comm/outlive.h).
  Agree(comm, "commit", [&] {
    if (comm.rank() != 0) return;
    if (shards) {  // each file committed as its last chunk came in
      if (shards->committed() != shards->files())
        throw InternalError(std::to_string(shards->files() - shards->committed()) + " output files not committed");
      shards->CheckInputsUnchanged();  // a file committed early may have changed since
      return;
    }
    if (stats.failed.skipping) writer->SetAttribute("failed_rows", stats.failed.count);
    WriteSealAttributes(*writer, totals.processes,
                        times.before_job.value_or(0) + JobTimes::Seconds(times.start, now()));
    SealOutput(*writer, p, totals.nonfinite_values, totals.paths);
  });
  times.sealed = now();
  if (const int running = FinalizeAndOutlive(comm, totals.processes, std::chrono::seconds(5)); running > 0)
    spdlog::debug("{} rank(s) of this host still running 5 s after the end of MPI; publishing the output", running);

  times.outlived = now();

  // 8. Publish, and report.
  if (comm.rank() == 0) {
    if (writer) PublishOutput(*writer, p.job.output.overwrite);
    report.WriteCommitted();
    LogSummary(p, comm.size(), JobTimes::Seconds(times.start, times.scored),
               JobTimes::Seconds(times.scoring, times.scored), totals.rows, totals.compute_seconds, totals.paths);
    LogTimes(times);
    if (stats.failed.skipping) LogFailedRows(stats.failed);
  }
} catch (const JobFailed&) {
  throw;  // agreed, and reported, by every rank
} catch (...) {
  AbortJob(comm, "job", CurrentFailure());
}

}  // namespace mpsbatch
