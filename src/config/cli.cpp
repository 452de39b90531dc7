#include "config/cli.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>

#include "common/error.h"

namespace mpsbatch {

CliOptions ParseCommandLine(const std::vector<std::string>& args) {
  CliOptions o;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") {
      o.help = true;
    } else if (a == "--version") {
      o.version = true;
    } else if (a == "--dry-run") {
      o.dry_run = true;
    } else if (a == "--resume") {
      o.overrides.push_back("resume=true");  // the same as the job key
    } else if (a == "--report") {
      if (i + 1 >= args.size()) throw UsageError("--report needs a file path, or off");
      o.overrides.push_back("report=" + args[++i]);  // the same as the job key
    } else if (a.rfind("--report=", 0) == 0) {
      o.overrides.push_back("report=" + a.substr(9));
    } else if (a == "--restart") {
      o.restart = true;
    } else if (a == "--set") {
      if (i + 1 >= args.size()) throw UsageError("--set needs key.path=value");
      o.overrides.push_back(args[++i]);
    } else if (a.rfind("--set=", 0) == 0) {
      o.overrides.push_back(a.substr(6));
    } else if (a.size() >= 2 && a[0] == '-' && a[1] != '-' &&
               std::all_of(a.begin() + 1, a.end(), [](char c) { return c == 'v' || c == 'q'; })) {
      for (char c : a.substr(1)) o.verbosity += (c == 'v') ? 1 : -1;
    } else if (!a.empty() && a[0] == '-') {
      throw UsageError("unknown option '" + a + "' (see --help)");
    } else if (o.job_path.empty()) {
      o.job_path = a;
    } else {
      throw UsageError("unexpected argument '" + a + "': give one job file");
    }
  }
  if (!o.help && !o.version && o.job_path.empty()) throw UsageError("no job file given (see --help)");
  return o;
}

std::string UsageText() {
  return R"(usage: mpirun -n N mpsbatch JOB.yaml [options]
       mpsbatch JOB.yaml [options]          (one rank, no mpirun needed)

Scores the rows of an HDF5 dataset with a PyTorch model (TorchScript .pt or
AOTInductor .pt2) and writes the outputs, in input order, to one HDF5 file.

options:
  --set KEY=VALUE   override a job key, e.g. --set batch_size=256 (repeatable)
  --dry-run         validate the job, load the model on rank 0, read the input's
                    metadata, print the plan; write nothing
  --resume          score only the chunks an earlier, interrupted run of this
                    job did not finish (the same as --set resume=true)
  --report PATH     write the run report (JSON: configuration, ranks, chunk
                    timelines) to PATH instead of beside the output; off for
                    none (the same as --set report=PATH)
  --restart         discard the saved chunks of an earlier run and start again
                    (without --resume or --restart, a run refuses to start
                    while an earlier run's chunks are saved for its output)
  -v, -vv           more logging (debug: a line per rank; trace); -q, -qq less
                    (warn: problems and the done: line; error)
  --version         print mpsbatch, libtorch, MPI and HDF5 versions
  -h, --help        this text

The job file's keys are described in docs/job-reference.md.
)";
}

std::string CommandLineText(const std::vector<std::string>& argv) {
  std::string text;
  for (const auto& a : argv) {
    const bool plain = !a.empty() && std::all_of(a.begin(), a.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("-_./=:,+@%", c) != nullptr;
    });
    std::string quoted = "'";
    for (char c : a) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    text += (text.empty() ? "" : " ") + (plain ? a : quoted + "'");
  }
  return text;
}

std::string EffectiveLogLevel(const std::string& job_level, int verbosity) {
  static const std::array<const char*, 6> kLevels = {"trace", "debug", "info", "warn", "error", "off"};
  int index = 2;
  for (int i = 0; i < static_cast<int>(kLevels.size()); ++i)
    if (job_level == kLevels[i]) index = i;
  index = std::clamp(index - verbosity, 0, static_cast<int>(kLevels.size()) - 1);
  return kLevels[index];
}

}  // namespace mpsbatch
