// One way of running a model's forward(): a TorchScript module as loaded or
// frozen (script_forward.h), or an AOTInductor package (aoti_forward.h).
// Sees torch headers (no spdlog; see engine.h).
#pragma once

#include "infer/torch_types.h"

namespace mpsbatch {

class Forward {
 public:
  virtual ~Forward() = default;
  virtual TensorList Run(const TensorList& inputs) = 0;
  // True if 4-D inputs should reach it channels-last in memory.
  virtual bool channels_last() const { return false; }
};

}  // namespace mpsbatch
