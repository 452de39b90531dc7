// The run report: one JSON file per run (docs/run-report.md) with the job as
// it ran (every key, defaults included), the model's and the input's identity,
// the hosts, and per rank its device, path, batch size, rows and rates, its
// start-up phases and a timeline of every chunk it scored. Every rank renders
// its own part (RankPart); rank 0 gathers them (comm/report_exchange.h) and
// writes the file once the output is committed, by default beside it
// (job key `report`, --report). A job that fails writes what rank 0 knows,
// marked failed. Writing the report never fails the job: a problem is a
// warning.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "config/cli.h"
#include "config/job.h"
#include "plan/planned_job.h"
#include "run/output_set.h"
#include "run/report.h"
#include "run/timeline.h"

namespace mpsbatch {

// Where the report of `job` goes: "" for report: off; for auto, output.path
// with its extension replaced by ".report.json" (scores.h5 -> scores.report.json);
// under output.per_input, each placeholder of the pattern replaced by "all"
// too (scores/{stem}.h5 -> scores/all.report.json).
std::string RunReportPath(const JobConfig& job);

// What a rank reports of itself besides its timeline, once it has scored.
struct RankFacts {
  std::string device;       // the engine's device name
  std::string path;         // the forward path chosen
  std::string calibration;  // CalibrationLine of the rank
  int64_t batch_size = 0;
  int64_t rows = 0;
  int64_t chunks = 0;
  double compute_seconds = 0;  // the compute thread's busy time
};

// One run's report, on every rank. Holds references to the job's state,
// which must outlive it (declare it after them).
class RunReport {
 public:
  // `start_time`: Timestamp of the job's start.
  RunReport(int rank, std::string host, const CliOptions& cli, const PlannedJob& p, const JobTimes& times,
            const RankTimeline& timeline, std::string start_time);
  // On rank 0, while a failure unwinds the job (JobFailed): writes the report
  // marked failed with LastFailureLine(), if the job is parsed far enough to
  // know where. Never throws.
  ~RunReport();
  RunReport(const RunReport&) = delete;
  RunReport& operator=(const RunReport&) = delete;

  // This rank's part, as JSON text (for GatherRankReports): `facts`, its
  // phases up to now and its chunks.
  std::string RankPart(const RankFacts& facts);

  // Rank 0: keeps every rank's part (GatherRankReports) for the report.
  void Gathered(std::vector<std::string> rank_parts) { rank_parts_ = std::move(rank_parts); }

  // Rank 0, output.per_input: the files, whose commits the report lists.
  void ShowShards(std::shared_ptr<const OutputSet> shards) { shards_ = std::move(shards); }

  // Rank 0, once the output is committed: writes the report from every rank's
  // part (rank 0's own rendered again, to add the commit). Logs a warning if
  // it cannot; never throws.
  void WriteCommitted();

  // Rank 0: writes the report marked failed with `line` and what rank 0
  // knows (every rank's part once gathered, else its own), if it holds the
  // output's lock (a job refused before that leaves an existing report
  // alone). Never throws.
  void WriteFailed(const std::string& line) noexcept;

 private:
  // Every rank's part, rank 0's rendered again up to now (only its own
  // before the parts are gathered).
  std::vector<std::string> PartsNow();
  void Write(const std::string& status, const std::string& error, const std::vector<std::string>& rank_parts);

  int rank_;
  std::string host_;
  const CliOptions& cli_;
  const PlannedJob& p_;
  const JobTimes& times_;
  const RankTimeline& timeline_;
  RankFacts facts_;
  std::vector<std::string> rank_parts_;      // rank 0: every rank's, once gathered
  std::shared_ptr<const OutputSet> shards_;  // rank 0, output.per_input
  std::string start_time_;
  int uncaught_ = 0;  // exceptions in flight when made
  bool written_ = false;
};

}  // namespace mpsbatch
