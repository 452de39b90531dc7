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

// Logs `line` at info even where -q set the level to warn: the job's result
// (its rows and output), which a quiet run still reports. Nothing at error
// and off.
void LogResult(const std::string& line);

// The status line below the log on stderr (common/status_line.h): shows
// `text` in place of what it showed, until ClearStatus. Write it only where
// stderr reaches a terminal (common/terminal.h) or the user asked for it: it
// is a carriage return and terminal control codes, without a newline.
void ShowStatus(const std::string& text);
void ClearStatus();

}  // namespace mpsbatch
