#include "comm/outlive.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <sstream>
#include <thread>

namespace mpsbatch {

std::vector<std::string> GatherProcesses(Communicator& comm) {
  return comm.Gather(comm.host() + " " + std::to_string(getpid()), 0);
}

int FinalizeAndOutlive(Communicator& comm, const std::vector<std::string>& processes, std::chrono::milliseconds limit) {
  MPI_Finalize();
  if (comm.rank() != 0) return 0;
  std::vector<pid_t> others;
  for (size_t r = 1; r < processes.size(); ++r) {
    std::istringstream in(processes[r]);
    std::string host;
    long pid = 0;
    if (in >> host >> pid && host == comm.host() && pid > 0 && pid != getpid())
      others.push_back(static_cast<pid_t>(pid));
  }
  // A pid is gone once its launcher has reaped it (kill() still finds a zombie).
  const auto deadline = std::chrono::steady_clock::now() + limit;
  int running = 0;
  do {
    running = 0;
    for (pid_t pid : others) running += kill(pid, 0) == 0 || errno != ESRCH;
    if (running == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  } while (std::chrono::steady_clock::now() < deadline);
  return running;
}

}  // namespace mpsbatch
