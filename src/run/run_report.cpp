#include "run/run_report.h"

#include <unistd.h>

#include <exception>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "comm/collective_step.h"
#include "common/host.h"
#include "common/log.h"
#include "config/job_dump.h"
#include "mpsbatch/version.h"
#include "plan/chunk_plan.h"

namespace fs = std::filesystem;

namespace mpsbatch {

namespace {

using Json = nlohmann::ordered_json;

constexpr int kReportVersion = 1;

// Seconds from `origin` to `t` on the steady clock.
double At(TimelineClock::time_point origin, TimelineClock::time_point t) { return SecondsBetween(origin, t); }

// The rank's start-up and scoring phases, from the stages JobTimes records,
// up to the first stage not reached; the last ends at `end`.
Json Phases(const JobTimes& t, TimelineClock::time_point origin, TimelineClock::time_point end) {
  std::vector<std::pair<const char*, TimelineClock::time_point>> begins;
  const TimelineClock::time_point unset{};
  if (t.before_job) begins.push_back({"start-up", origin});
  begins.push_back({"plan", t.start});
  if (t.planned != unset) begins.push_back({"engines", t.planned});
  if (t.engines_ready != unset) begins.push_back({"calibration", t.engines_ready});
  if (t.scoring != unset) {
    begins.push_back({"output file", t.engines_ready + std::chrono::duration_cast<TimelineClock::duration>(
                                                           std::chrono::duration<double>(t.calibration_seconds))});
    begins.push_back({"scoring", t.scoring});
  }
  if (t.scored != unset) begins.push_back({"commit", t.scored});
  Json phases = Json::array();
  for (size_t i = 0; i < begins.size(); ++i) {
    const auto to = i + 1 < begins.size() ? begins[i + 1].second : end;
    phases.push_back({{"name", begins[i].first}, {"begin", At(origin, begins[i].second)}, {"end", At(origin, to)}});
  }
  return phases;
}

Json ChunkJson(const ChunkRecord& c, TimelineClock::time_point origin) {
  const ChunkTiming& t = c.timing;
  return {{"id", c.id},
          {"rows", c.rows},
          {"begin", At(origin, t.given)},
          {"end", At(origin, t.delivered)},
          {"read_seconds", t.read_seconds},
          {"reading_seconds", t.reading_seconds},
          {"queued_seconds", SecondsBetween(t.submitted, t.compute_begin)},
          {"compute_begin", At(origin, t.compute_begin)},
          {"compute_end", At(origin, t.compute_end)},
          {"copy_seconds", t.start_seconds},
          {"wait_seconds", t.finish_seconds},
          {"deliver_seconds", t.deliver_seconds}};
}

// Adds `delta` to every time of a rank's part (not to durations), moving it
// onto rank 0's origin.
void Shift(Json& part, double delta) {
  for (auto& phase : part["phases"]) {
    phase["begin"] = phase["begin"].get<double>() + delta;
    phase["end"] = phase["end"].get<double>() + delta;
  }
  for (auto& chunk : part["chunks"])
    for (const char* key : {"begin", "end", "compute_begin", "compute_end"})
      chunk[key] = chunk[key].get<double>() + delta;
  if (part["first_chunk"].is_number()) part["first_chunk"] = part["first_chunk"].get<double>() + delta;
}

Json Datasets(const std::vector<DatasetInfo>& inputs) {
  Json out = Json::array();
  for (const auto& d : inputs)
    out.push_back({{"name", d.name}, {"dtype", std::string(DTypeName(d.dtype))}, {"shape", d.shape}});
  return out;
}

Json Outputs(const std::vector<OutputSpec>& outputs) {
  Json out = Json::array();
  for (const auto& o : outputs)
    out.push_back({{"name", o.name}, {"dtype", std::string(DTypeName(o.dtype))}, {"row_shape", o.row_shape}});
  return out;
}

// Writes `text` to `path` whole or not at all: a temporary name in the same
// folder, then a rename over `path`. Throws std::runtime_error.
void WriteAtomically(const std::string& path, const std::string& text) {
  const std::string temp = path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) {
      std::error_code ignored;
      fs::remove(temp, ignored);
      throw std::runtime_error("cannot write " + temp);
    }
  }
  std::error_code ec;
  fs::rename(temp, path, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(temp, ignored);
    throw std::runtime_error("cannot rename " + temp + " to " + path + ": " + ec.message());
  }
}

// Throws if `path` is a file the job reads or writes besides its report (a
// report there would replace the job's input, model or output).
void CheckNotTheJobsFile(const std::string& path, const JobConfig& job, const std::string& job_file) {
  for (const std::string& other : {job.input.path, job.model_path, job.model_compiled, job.output.path, job_file}) {
    std::error_code ec;
    if (!other.empty() && (path == other || fs::equivalent(path, other, ec)))
      throw std::runtime_error(path + " is the job's own file " + other + "; give the report another path");
  }
}

}  // namespace

std::string RunReportPath(const JobConfig& job) {
  if (job.report == "off" || job.output.path.empty()) return "";
  if (job.report != "auto") return job.report;
  if (job.output.per_input) {
    // Beside the files, named by the pattern with "all" for each placeholder:
    // scores/{stem}.h5 -> scores/all.report.json.
    const fs::path pattern(job.output.path);
    std::string name = pattern.filename().string();
    for (const std::string placeholder : {"{stem}", "{name}", "{index}"})
      for (size_t at; (at = name.find(placeholder)) != std::string::npos;) name.replace(at, placeholder.size(), "all");
    return (pattern.parent_path() / fs::path(name).replace_extension(".report.json")).string();
  }
  return fs::path(job.output.path).replace_extension(".report.json").string();
}

RunReport::RunReport(int rank, std::string host, const CliOptions& cli, const PlannedJob& p, const JobTimes& times,
                     const RankTimeline& timeline, std::string start_time)
    : rank_(rank),
      host_(std::move(host)),
      cli_(cli),
      p_(p),
      times_(times),
      timeline_(timeline),
      start_time_(std::move(start_time)),
      uncaught_(std::uncaught_exceptions()) {}

RunReport::~RunReport() {
  if (rank_ == 0 && !written_ && std::uncaught_exceptions() > uncaught_) WriteFailed(LastFailureLine());
}

std::string RunReport::RankPart(const RankFacts& facts) {
  facts_ = facts;
  const auto now = TimelineClock::now();
  const auto origin = times_.start - std::chrono::duration_cast<TimelineClock::duration>(
                                         std::chrono::duration<double>(times_.before_job.value_or(0)));
  const double unix_now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  Json part;
  part["rank"] = rank_;
  part["host"] = host_;
  part["pid"] = static_cast<int64_t>(getpid());
  part["origin_unix"] = unix_now - At(origin, now);
  part["device"] = facts.device;
  part["path"] = facts.path;
  part["calibration"] = facts.calibration;
  part["batch_size"] = facts.batch_size;
  part["rows"] = facts.rows;
  part["chunks_scored"] = facts.chunks;
  part["compute_seconds"] = facts.compute_seconds;
  part["rows_per_compute_second"] = facts.compute_seconds > 0 ? facts.rows / facts.compute_seconds : 0.0;
  const double scoring = times_.scored > times_.scoring ? SecondsBetween(times_.scoring, times_.scored) : 0;
  part["rows_per_scoring_second"] = scoring > 0 ? facts.rows / scoring : 0.0;
  part["read_for_others_seconds"] = timeline_.read_for_others_seconds;
  part["write_for_others_seconds"] = timeline_.write_for_others_seconds;
  part["phases"] = Phases(times_, origin, now);
  Json chunks = Json::array();
  TimelineClock::time_point first = TimelineClock::time_point::max();
  for (const auto& c : timeline_.chunks) {
    chunks.push_back(ChunkJson(c, origin));
    first = std::min(first, c.timing.given);
  }
  part["first_chunk"] = timeline_.chunks.empty() ? Json() : Json(At(origin, first));
  part["chunks"] = std::move(chunks);
  return part.dump();
}

std::vector<std::string> RunReport::PartsNow() {
  std::vector<std::string> parts = rank_parts_;
  if (parts.empty()) parts.emplace_back();
  parts[0] = RankPart(facts_);
  return parts;
}

void RunReport::WriteCommitted() {
  try {
    Write("ok", "", PartsNow());
  } catch (const std::exception& e) {
    spdlog::warn("the run report was not written ({}); the output is complete", e.what());
  }
  written_ = true;
}

void RunReport::WriteFailed(const std::string& line) noexcept {
  written_ = true;
  try {
    // Only while this run holds the output's name: a job refused for an
    // output that exists (or another run's lock) leaves the report beside
    // that output alone.
    if (!p_.output_lock || RunReportPath(p_.job).empty()) return;
    Write("failed", line.empty() ? "the job failed; its log says why" : line, PartsNow());
  } catch (const std::exception& e) {
    spdlog::warn("the failed job's run report was not written: {}", e.what());
  } catch (...) {
  }
}

void RunReport::Write(const std::string& status, const std::string& error, const std::vector<std::string>& parts) {
  const std::string path = RunReportPath(p_.job);
  if (path.empty()) return;
  CheckNotTheJobsFile(path, p_.job, cli_.job_path);
  const JobConfig& job = p_.job;
  const JobPlan& plan = p_.plan;
  Json r;
  r["report_version"] = kReportVersion;
  r["status"] = status;
  r["error"] = error;
  r["mpsbatch_version"] = MPSBATCH_VERSION;
  r["job_file"] = cli_.job_path;
  r["command_line"] = cli_.command_line;
  r["config"] = DumpJob(job);
  r["start_time"] = start_time_;
  r["end_time"] = Timestamp();
  r["wall_seconds"] = times_.before_job.value_or(0) + SecondsBetween(times_.start, TimelineClock::now());
  r["output"] = {{"path", job.output.path}, {"committed", status == "ok"}, {"report", path}};
  if (job.output.per_input) {
    // Each input file's output, and whether it is committed (a failed or
    // stopped job commits the files it finished).
    // Before the files are opened: those an earlier run committed (--resume).
    Json files = Json::array();
    int64_t committed = 0;
    for (size_t i = 0; i < p_.shard_outputs.size(); ++i) {
      const bool done = shards_ ? shards_->committed(i) : status == "ok" || p_.shard_outputs[i].committed;
      committed += done ? 1 : 0;
      files.push_back(
          {{"input", plan.input_files.at(i).path}, {"path", p_.shard_outputs[i].path}, {"committed", done}});
    }
    r["output"]["files"] = files;
    r["output"]["files_committed"] = committed;
  }
  r["model"] = {{"path", job.model_path},
                {"size", plan.model_size},
                {"sha256", plan.model_sha256},
                {"format", p_.engine ? p_.engine->format() : ""}};
  if (!job.model_compiled.empty())
    r["model"]["compiled"] = {
        {"path", job.model_compiled}, {"size", plan.compiled_size}, {"sha256", plan.compiled_sha256}};
  Json sources = Json::array();
  for (const auto& s : plan.input_sources)
    sources.push_back({{"path", s.path}, {"role", s.role}, {"size", s.stamp.size}, {"mtime_ns", s.stamp.mtime_ns}});
  Json files = Json::array();
  for (const auto& f : plan.input_files)
    files.push_back({{"path", f.path}, {"rows", f.rows}, {"size", f.stamp.size}, {"mtime_ns", f.stamp.mtime_ns}});
  r["input"] = {{"path", job.input.path},           {"size", plan.input_file_size},      {"files", files},
                {"mode", InputModeName(plan.mode)}, {"datasets", Datasets(plan.inputs)}, {"sources", sources}};
  r["outputs"] = Outputs(plan.outputs);
  r["resume_identity"] = p_.identity;
  r["rows"] = plan.rows;
  r["chunk_rows"] = plan.chunk_rows;
  r["chunks"] = plan.chunk_rows > 0 ? ChunkPlan(plan.rows, plan.chunk_rows, 1).num_chunks() : 0;
  r["resumed_chunks"] = p_.resume ? static_cast<int64_t>(p_.resume->done.size()) : 0;
  Json ranks = Json::array();
  std::vector<std::string> hosts;
  double origin = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    Json part = Json::parse(parts[i]);
    if (i == 0) origin = part["origin_unix"].get<double>();
    Shift(part, part["origin_unix"].get<double>() - origin);
    part.erase("origin_unix");
    const std::string host = part["host"].get<std::string>();
    if (std::find(hosts.begin(), hosts.end(), host) == hosts.end()) hosts.push_back(host);
    ranks.push_back(std::move(part));
  }
  r["time_origin_unix"] = origin;
  r["hosts"] = hosts;
  r["ranks"] = std::move(ranks);
  WriteAtomically(path, r.dump(1) + "\n");
  spdlog::info("run report: {}", path);
}

}  // namespace mpsbatch
