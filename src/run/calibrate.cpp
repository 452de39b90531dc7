#include "run/calibrate.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <exception>
#include <map>
#include <sstream>

#include "common/error.h"

namespace mpsbatch {

namespace {

// Rank 0's first `rows` rows of every input, sent to every rank. Every rank
// takes part in every broadcast even when rank 0 cannot read: then each
// array arrives empty and rank 0 keeps the error in `*failed`.
std::vector<HostArray> ShareRows(Communicator& comm, const JobPlan& plan, InputFile* input, int64_t rows,
                                 std::exception_ptr* failed) {
  std::vector<HostArray> arrays;
  for (const auto& info : plan.inputs) {
    Shape shape = info.shape;
    shape[0] = rows;
    HostArray a(info.dtype, shape);
    std::string bytes;
    if (comm.rank() == 0 && !*failed) {
      try {
        a = input->ReadRows(info, 0, rows);
        bytes.assign(reinterpret_cast<const char*>(a.bytes.data()), a.bytes.size());
      } catch (...) {
        *failed = std::current_exception();
      }
    }
    comm.Broadcast(bytes, 0);
    if (bytes.size() == a.bytes.size() && comm.rank() != 0 && !bytes.empty())
      std::memcpy(a.bytes.data(), bytes.data(), bytes.size());
    if (bytes.size() != a.bytes.size())
      arrays.clear();  // rank 0 failed: nothing to calibrate on
    else
      arrays.push_back(std::move(a));
  }
  return arrays;
}

std::vector<ArrayView> Views(const std::vector<HostArray>& arrays, int64_t rows) {
  std::vector<ArrayView> views;
  for (const auto& a : arrays) views.push_back(RowSlice(a, 0, rows));
  return views;
}

}  // namespace

RankCalibration CalibrateRanks(Communicator& comm, Engine& engine, const JobConfig& job, const JobPlan& plan,
                               InputFile* input, int64_t batch_bound) {
  // Device groups: the lowest rank with the same host and device leads.
  const auto keys = comm.Gather(comm.host() + "\n" + engine.device_name(), 0);
  std::string leaders;
  if (comm.rank() == 0) {
    std::map<std::string, int> first;
    for (size_t r = 0; r < keys.size(); ++r) {
      const int leader = first.emplace(keys[r], static_cast<int>(r)).first->second;
      leaders += std::to_string(leader) + " ";
    }
  }
  comm.Broadcast(leaders, 0);
  std::vector<int> leader_of;
  std::istringstream in(leaders);
  for (int l; in >> l;) leader_of.push_back(l);
  RankCalibration out;
  out.leader = leader_of.at(static_cast<size_t>(comm.rank()));

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
      CalibrationReport& r = out.report;
      const auto start = std::chrono::steady_clock::now();
      double budget = job.calibration_seconds;
      r.batch_size = rows;
      if (job.batch_size_auto) {
        r.batch_size = SearchBatchSize(engine, sample, rows, plan.chunk_rows, budget / 2, &r.batch_search);
        budget -= std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      }
      r.paths = engine.Calibrate(Views(sample, r.batch_size), std::max(0.1, budget));
      mine = std::to_string(r.batch_size) + "\n" + r.paths.chosen;
    } catch (...) {
      failed = std::current_exception();
    }
  }
  const auto choices = comm.Gather(mine, 0);
  std::string all;
  if (comm.rank() == 0)
    for (const auto& c : choices) all += c + "\t";
  comm.Broadcast(all, 0);

  // The others build their leader's choice ("-": the leader failed, and
  // reports it).
  if (failed) std::rethrow_exception(failed);
  std::vector<std::string> fields;
  std::istringstream split(all);
  for (std::string f; std::getline(split, f, '\t');) fields.push_back(f);
  const std::string& theirs = fields.at(static_cast<size_t>(out.leader));
  const size_t newline = theirs.find('\n');
  if (out.leader != comm.rank() && newline != std::string::npos) {
    out.report.batch_size = std::stoll(theirs.substr(0, newline));
    out.report.paths = engine.Adopt(theirs.substr(newline + 1), Views(sample, out.report.batch_size));
  }
  return out;
}

std::string CalibrationLine(const RankCalibration& c, int rank) {
  std::string s = "batch " + std::to_string(c.report.batch_size);
  if (c.leader != rank)
    return s + ", path " + c.report.paths.chosen + ", as rank " + std::to_string(c.leader) + " measured";
  if (!c.report.batch_search.empty()) s += " (auto: " + c.report.batch_search + ")";
  return s + ", path " + c.report.paths.Summary();
}

}  // namespace mpsbatch
