// The job as it runs, every key written out: the values the job file and
// --set gave and the defaults of the keys they left out. The run report and
// the output file's `config` attribute carry this text, so a reader sees what
// the job ran with without knowing the defaults of this version.
#pragma once

#include <string>

#include "config/job.h"

namespace mpsbatch {

// YAML text of every key of `job`. Parsing it (ParseJobText) gives a JobConfig
// equal to `job` in every field but effective_yaml. Keys without a value
// (input.dtype, input.scale, input.mean, input.std, model.compiled,
// output.dtype when unset) appear as comments saying what their absence means.
std::string DumpJob(const JobConfig& job);

}  // namespace mpsbatch
