#include "comm/job_exchanges.h"

#include "comm/outlive.h"

namespace mpsbatch {

void ShareFromRankZero(Communicator& comm, std::string& text) { comm.Broadcast(text, 0); }

size_t AgreeDepth(Communicator& comm, size_t depth) {
  return static_cast<size_t>(comm.AllreduceMax(static_cast<int64_t>(depth)));
}

GatheredDevices GatherDevices(Communicator& comm, const std::string& device_name, bool bound_to_one_core) {
  GatheredDevices g;
  g.names = comm.Gather(device_name, 0);
  const auto bound = comm.Gather(bound_to_one_core ? "1" : "0", 0);
  for (size_t r = 0; r < bound.size(); ++r)
    if (bound[r] == "1") g.bound_to_one += (g.bound_to_one.empty() ? "" : ", ") + std::to_string(r);
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
