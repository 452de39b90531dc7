// Logging for mpsbatch: one spdlog logger per process whose lines carry the MPI
// rank. Logging never throws. Files that include torch headers must not include
// this header (libtorch's bundled fmt clashes with spdlog's).
#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace mpsbatch {

// Installs the process-wide logger on stderr with "[rank R]" in each line.
// Where stderr is a pipe whose reader has gone (EPIPE; SIGPIPE must be
// ignored), the logger stops writing and the process carries on.
// `level` is one of trace, debug, info, warn, error, off.
void InitLogging(int rank, const std::string& level);
void SetLogLevel(const std::string& level);

}  // namespace mpsbatch
