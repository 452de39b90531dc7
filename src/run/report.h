// What the job tells its user: the plan and start-up lines of the log, the
// dry run's description, the header attributes of the output file, the
// warning on non-finite outputs, the summary and the final "time:" line that
// breaks the run into its stages. Rank 0 only; nothing here takes part in a
// collective.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "comm/job_exchanges.h"
#include "plan/gpu_sharing.h"
#include "plan/planned_job.h"
#include "run/calibrate.h"
#include "write/result_writer.h"

namespace mpsbatch {

// When each stage of the job began, on this rank (steady clock).
struct JobTimes {
  using Clock = std::chrono::steady_clock;
  Clock::time_point start;           // RunJob entered
  std::optional<double> before_job;  // seconds from the process's start to `start` (common/host.h)
  // Rank 0: its plan made (its engine loaded and probed; the other ranks'
  // engines are loaded meanwhile). The others: the model's bytes here, their
  // engines next.
  Clock::time_point planned;
  Clock::time_point engines_ready;  // the model and engines on every rank; calibration starts
  double calibration_seconds = 0;   // calibrating, from engines_ready
  Clock::time_point scoring;        // the rank loops start
  Clock::time_point scored;         // the rank loops end
  // Finishing, on rank 0: every rank's totals gathered, the output sealed,
  // the other ranks of its host gone (comm/outlive.h).
  Clock::time_point gathered;
  Clock::time_point sealed;
  Clock::time_point outlived;

  static double Seconds(Clock::time_point from, Clock::time_point to);
};

// "cpu x3, cuda:0 x1" from every rank's device name.
std::string SummarizeDevices(const std::vector<std::string>& names);

// What a resumed run takes over from the earlier one ("" when not resuming).
std::string ResumeLine(const PlannedJob& p);

// --dry-run's output on stdout: the plan, the resume line, the model's format
// and device.
void PrintDryRun(const PlannedJob& p, int ranks);

// The output file's header attributes: the job, model, input, versions,
// devices, ranks, rows and `start` (Timestamp of the job's start).
void WriteHeaderAttributes(ResultWriter& w, const PlannedJob& p, int ranks, const std::string& start,
                           const std::vector<std::string>& devices);

// The log's account of the job before scoring, in the order it becomes
// known, so that a slow start-up is never silent. First, before any model is
// loaded: the input and its rows, the ranks, batch, path, model and output.
void LogPlanHead(const PlannedJob& p, int ranks);
// Once rank 0 has probed the model and accepted what an earlier run left:
// what a resumed run takes over, the chunks (and how many ranks they leave
// idle) and the outputs.
void LogPlanChunks(const PlannedJob& p, int ranks);
// Once every rank has its engine: the start-up times (planning, and the wait
// after it for the other ranks' engines), the engines (`threads`
// intra-op threads per rank), how each input is read, ranks bound to one core.
void LogStartUp(const PlannedJob& p, const GatheredDevices& devices, int threads, const JobTimes& times);
// Then, where ranks share a GPU: how many, and whether NVIDIA's MPS daemon
// serves them (a warning, with the fix, where it does not).
void LogSharedGpus(const std::vector<SharedGpu>& shared);
// After calibration: which ranks on a GPU shared without the daemon compute,
// and why (nothing where every rank computes by default).
void LogComputingRanks(const ComputingRanks& computing);
// Before calibration: what it will do and its bound (calibration_seconds).
void LogCalibrating(const JobConfig& job);
// After it, once the output file is made (the last line before scoring):
// its time and rank 0's calibration (batch, path, cache), once.
void LogCalibration(const JobTimes& times, const RankCalibration& calibration);

// Warns of NaN and Inf in the outputs, if any.
void LogNonFinite(int64_t values, int64_t first_row);

// The "done:" line: rows, ranks, wall time, rates and the output path; it
// shows at -q too. At -v, one line per rank: its rows, compute time and path
// (rank 0's calibration only by reference: LogCalibration logged it).
void LogSummary(const PlannedJob& p, int ranks, double total_seconds, double loop_seconds,
                const std::vector<double>& rows, const std::vector<double>& compute,
                const std::vector<std::string>& paths);

// The final "time:" line: the job's stages, finishing up to now.
void LogTimes(const JobTimes& times);

}  // namespace mpsbatch
