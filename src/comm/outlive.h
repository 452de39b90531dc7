// The end of a job's MPI, ordered so that rank 0 is the last process of its
// host: every rank ends MPI (MPI_Finalize) and exits at once, and rank 0 waits
// for the others on its host to be gone before it goes on (to publish the
// output). Whatever happens to a process after it has exited cannot fail the
// job; a process still running when the output appears could (kill -9 would
// make mpirun exit 137 with a complete output). Ranks on other hosts are not
// waited for: their processes are not visible from rank 0's.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "comm/communicator.h"

namespace mpsbatch {

// Collective: each rank's "host pid", on rank 0 (empty elsewhere).
std::vector<std::string> GatherProcesses(Communicator& comm);

// Collective: ends MPI on every rank (no MPI call may follow). On rank 0, then
// waits up to `limit` until the processes of `processes` (from GatherProcesses)
// on its own host, other than itself, have exited. Returns how many were still
// running at the limit.
int FinalizeAndOutlive(Communicator& comm, const std::vector<std::string>& processes, std::chrono::milliseconds limit);

}  // namespace mpsbatch
