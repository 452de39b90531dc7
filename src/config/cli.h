// The command line of mpsbatch. Parsing is pure (no I/O), so every rank parses
// the same argv to the same Options.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace mpsbatch {

struct CliOptions {
  std::string job_path;
  std::vector<std::string> overrides;  // --set key.path=value, in order
  bool help = false;
  bool version = false;
  bool dry_run = false;
  bool restart = false;      // --restart: discard the saved chunks of an earlier run
  int verbosity = 0;         // -v: +1 (debug), -vv: +2 (trace), -q: -1 (warn), -qq: -2 (error)
  std::string command_line;  // the process's argv as one line (CommandLineText); main() sets it
};

// Throws UsageError naming the offending argument.
CliOptions ParseCommandLine(const std::vector<std::string>& args);

std::string UsageText();

// `argv` as a shell would take it back: words joined by spaces, each with a
// character outside [A-Za-z0-9-_./=:,+@%] in single quotes.
std::string CommandLineText(const std::vector<std::string>& argv);

// Log level after applying -v/-q to the job's log_level.
std::string EffectiveLogLevel(const std::string& job_level, int verbosity);

}  // namespace mpsbatch
