// The run report's exchange: every rank's part of the report (its facts and
// timeline, as text the run's report code writes and reads) gathered on rank 0
// once the ranks have scored. Collective: every rank calls it, in the same
// step. Throws CommError.
#pragma once

#include <string>
#include <vector>

#include "comm/communicator.h"

namespace mpsbatch {

// Every rank's `mine`, in rank order, on rank 0 (empty elsewhere).
std::vector<std::string> GatherRankReports(Communicator& comm, const std::string& mine);

}  // namespace mpsbatch
