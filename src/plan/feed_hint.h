// What to change in the job when the model cannot run on the probe batch
// because of how the job feeds it: an integer or bool input reaching a model
// that takes floats (input.dtype, input.scale), or images stored
// channels-last fed to a channels-first model, or the other way round
// (input.layout). Read from the model's own error and the inputs' dtypes and
// shapes; a guess that says so, never a refusal of its own.
#pragma once

#include <string>
#include <vector>

#include "infer/engine.h"
#include "read/input_file.h"

namespace mpsbatch {

// "" when nothing in `model_error` points at the feed; else one or more
// sentences (space-separated, each ending in '.'), each naming the input,
// what it is, and the key that fixes it.
std::string FeedHint(const EngineOptions& options, const std::vector<DatasetInfo>& inputs,
                     const std::string& model_error);

}  // namespace mpsbatch
