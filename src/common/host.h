// Facts about the host and this process that the job reports or sizes its
// threads by: the cores it may run on, how long the process has run, the time
// of day. Cheap, local, never throw.
#pragma once

#include <optional>
#include <string>

namespace mpsbatch {

// Cores this process may run on: its affinity mask where the launcher bound
// it (mpirun binds each of 1 or 2 processes to one core by default), else the
// host's.
int UsableCores();

// The host's hardware threads (at least 1).
int HostCores();

// Seconds from this process's start to now: loading its libraries (libtorch's
// take most), MPI's start-up. Linux only (nullopt elsewhere); 10 ms steps.
std::optional<double> SecondsSinceProcessStart();

// Now, in UTC: "2026-11-27T18:33:22Z".
std::string Timestamp();

}  // namespace mpsbatch
