#include "comm/job_exchanges.h"

#include <sstream>

#include "comm/outlive.h"

namespace mpsbatch {

void ShareFromRankZero(Communicator& comm, std::string& text) { comm.Broadcast(text, 0); }

size_t AgreeDepth(Communicator& comm, size_t depth) {
  return static_cast<size_t>(comm.AllreduceMax(static_cast<int64_t>(depth)));
}

GatheredDevices GatherDevices(Communicator& comm, const DeviceFacts& mine) {
  // One line per rank, "name\tbound\thost\tgpu\tdaemon", gathered on rank 0
  // and sent to all: one gather for every fact.
  const auto flag = [](bool b) { return b ? "1" : "0"; };
  std::string all;
  for (const auto& line : comm.Gather(mine.name + "\t" + flag(mine.bound_to_one_core) + "\t" + comm.host() + "\t" +
                                          mine.gpu + "\t" + flag(mine.mps_daemon),
                                      0))
    all += line + "\n";
  comm.Broadcast(all, 0);
  GatheredDevices g;
  std::istringstream in(all);
  for (std::string name, bound, host, gpu, daemon; std::getline(in, name, '\t') && std::getline(in, bound, '\t') &&
                                                   std::getline(in, host, '\t') && std::getline(in, gpu, '\t') &&
                                                   std::getline(in, daemon, '\n');) {
    if (bound == "1") g.bound_to_one += (g.bound_to_one.empty() ? "" : ", ") + std::to_string(g.names.size());
    g.names.push_back(name);
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
