// Torch's exception messages cut down to what a user of mpsbatch needs.
// Sees torch headers (no spdlog; see engine.h).
#pragma once

#include <c10/util/Exception.h>

#include <string>

namespace mpsbatch {

// Torch's messages carry C++ and TorchScript tracebacks. An exception raised
// in the model ends with its Python line ("builtins.RuntimeError: ..."): keep
// that; otherwise keep the head.
std::string Brief(const std::string& msg);
std::string Brief(const c10::Error& e);

}  // namespace mpsbatch
