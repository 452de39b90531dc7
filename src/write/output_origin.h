// What wrote an existing output file, as the file records it: its
// `input_file` attribute (only output.per_input files have one), `input_path`,
// `config` (the job as it ran, for its output.path), `end_time` and
// `command_line`. Refusals to write over, or resume, a file another kind of
// job committed name that job with it, so that the user knows which run the
// file belongs to before replacing it.
#pragma once

#include <optional>
#include <string>

namespace mpsbatch {

struct OutputOrigin {
  bool per_input = false;    // one file of an output.per_input job
  std::string input;         // per_input: its input file; otherwise the job's input.path
  std::string output_path;   // the job's output.path (per_input: its pattern); "" if not recorded
  std::string end_time;      // when it was committed; "" if not recorded
  std::string command_line;  // "" if not recorded
};

// What the HDF5 file at `path` records of the job that wrote it; nullopt if
// there is no such file, HDF5 cannot open it, or it records no input (not an
// mpsbatch output). Never throws.
std::optional<OutputOrigin> ReadOutputOrigin(const std::string& path);

// The origin said for a message: "a per-input job (output.path
// /o/{stem}.h5) committed it at 2026-11-28T10:00:00Z as the output of input
// file /d/part-0001.h5 (command line: mpsbatch per.yaml)", or "a job with one
// output (output.path /o/x.h5) committed it at ... from input.path /d/x.h5
// (...)".
std::string DescribeOrigin(const OutputOrigin& origin);

}  // namespace mpsbatch
