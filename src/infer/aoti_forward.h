// AOTInductor packages (.pt2): loading one onto the device and its forward.
// Sees torch headers (no spdlog; see engine.h).
#pragma once

#include <torch/types.h>

#include <memory>
#include <string>

#include "infer/engine.h"
#include "infer/forward.h"

namespace mpsbatch {

// The package `src` loaded for `device`. Throws ModelError if it does not
// load, or if this libtorch cannot load AOTInductor packages.
std::unique_ptr<Forward> MakeAoti(const ModelSource& src, torch::Device device);

// True if `path` names an AOTInductor package (ends in ".pt2").
bool IsAotiPackage(const std::string& path);

}  // namespace mpsbatch
