// The input-mode negotiation: whether every rank reads its own chunks of the
// input (shared) or rank 0 reads them and sends them (scatter). Each rank other
// than 0 says whether it can read the input; input.mode auto then picks shared
// only if all can, and input.mode shared refuses a rank that cannot.
#pragma once

#include <functional>
#include <string>

#include "comm/communicator.h"
#include "config/job.h"

namespace mpsbatch {

// Collective; call inside the job's "choose-input-mode" step. `requested` is
// input.mode. `local_problem` runs on every rank other than 0 unless scatter is
// requested, and returns "" if this rank can read the input, else why not.
// Returns shared or scatter. Under input.mode shared, a rank that cannot read
// fails the nested agreed step "choose-input-mode" (JobFailed on every rank).
// Rank 0 logs when auto falls back to scatter (`input_path` names the input).
InputMode ChooseInputMode(Communicator& comm, InputMode requested, const std::function<std::string()>& local_problem,
                          const std::string& input_path);

}  // namespace mpsbatch
