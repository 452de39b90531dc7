// Which device a rank's engine runs on, and the process's CPU threads.
// Sees torch headers (no spdlog; see engine.h).
#pragma once

#include <torch/types.h>

#include "infer/engine.h"

namespace mpsbatch {

// The device `o` asks for: auto takes mps, then cuda, then cpu; CUDA ranks of
// a host spread over its GPUs by local_rank. Throws DeviceError when an
// asked-for device is missing.
torch::Device PickDevice(const EngineOptions& o);

// Intra-op threads of this process; inter-op threads: one, set once.
void SetThreads(int threads);

}  // namespace mpsbatch
