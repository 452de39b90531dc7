#include "comm/report_exchange.h"

namespace mpsbatch {

std::vector<std::string> GatherRankReports(Communicator& comm, const std::string& mine) {
  std::vector<std::string> all = comm.Gather(mine, 0);
  if (comm.rank() != 0) all.clear();
  return all;
}

}  // namespace mpsbatch
