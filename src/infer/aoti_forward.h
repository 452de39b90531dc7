// AOTInductor packages (.pt2): loading one onto the device and its forward.
// Sees torch headers (no spdlog; see engine.h).
#pragma once

#include <torch/types.h>

#include <memory>
#include <string>
#include <unordered_map>

#include "infer/engine.h"
#include "infer/forward.h"

namespace mpsbatch {

// The package `src` loaded for `device`. With `metadata`, stores there the
// package's metadata (AOTIModelPackageLoader::get_metadata: its device and
// platform, and what the export helper recorded, export_record.h). Throws
// ModelError if it does not load, or if this libtorch cannot load
// AOTInductor packages.
std::unique_ptr<Forward> MakeAoti(const ModelSource& src, torch::Device device,
                                  std::unordered_map<std::string, std::string>* metadata = nullptr);

// True if `path` names an AOTInductor package (ends in ".pt2").
bool IsAotiPackage(const std::string& path);

}  // namespace mpsbatch
