// Model files that are not exported models: what users often hold instead of
// a TorchScript file or an AOTInductor package is a checkpoint written by
// torch.save (a state_dict, a dict holding one, or a whole pickled
// nn.Module), in torch's zip format or its legacy pickle format. libtorch's
// loaders refuse those with "PytorchStreamReader failed locating file
// constants.pkl ... corrupted"; this unit recognises them so that the refusal
// can say what the file is and how to export it. Sees torch headers (no
// spdlog; see engine.h).
#pragma once

#include <string>

#include "infer/engine.h"

namespace mpsbatch {

// "" unless `src` (its bytes, or its path when the bytes are null) is a
// torch.save checkpoint; then what it is and the export helper's command that
// turns it into a model mpsbatch runs, e.g. "is a checkpoint written by
// torch.save(model.state_dict()) ...". Never throws.
std::string CheckpointNotModel(const ModelSource& src);

}  // namespace mpsbatch
