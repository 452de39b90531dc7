#include "comm/job_exchanges.h"

#include <sstream>

#include "comm/outlive.h"

namespace mpsbatch {

void ShareFromRankZero(Communicator& comm, std::string& text) { comm.Broadcast(text, 0); }

size_t AgreeDepth(Communicator& comm, size_t depth) {
  return static_cast<size_t>(comm.AllreduceMax(static_cast<int64_t>(depth)));
}

GatheredDevices GatherDevices(Communicator& comm, const DeviceFacts& mine) {
  GatheredDevices g;
  g.names = comm.Gather(mine.name, 0);
  const auto bound = comm.Gather(mine.bound_to_one_core ? "1" : "0", 0);
  for (size_t r = 0; r < bound.size(); ++r)
    if (bound[r] == "1") g.bound_to_one += (g.bound_to_one.empty() ? "" : ", ") + std::to_string(r);
  // One line per rank, "host\tgpu\tdaemon", gathered on rank 0 and sent to all.
  std::string all;
  const auto lines = comm.Gather(comm.host() + "\t" + mine.gpu + "\t" + (mine.mps_daemon ? "1" : "0"), 0);
  for (const auto& line : lines) all += line + "\n";
  comm.Broadcast(all, 0);
  std::istringstream in(all);
  for (std::string host, gpu, daemon;
       std::getline(in, host, '\t') && std::getline(in, gpu, '\t') && std::getline(in, daemon, '\n');) {
    g.hosts.push_back(host);
    g.gpus.push_back(gpu);
    g.mps_daemon.push_back(daemon == "1");
  }
  return g;
}

JobTotals GatherTotals(Communicator& comm, const RankTotals& mine) {
  JobTotals t;
  t.rows = comm.Gather(mine.rows, 0);
  t.compute_seconds = comm.Gather(mine.compute_seconds, 0);
  t.paths = comm.Gather(mine.path, 0);
  t.nonfinite_values = comm.AllreduceSum(mine.nonfinite_values);
  t.first_nonfinite_row = comm.AllreduceMin(mine.first_nonfinite_row);
  t.processes = GatherProcesses(comm);
  return t;
}

}  // namespace mpsbatch
