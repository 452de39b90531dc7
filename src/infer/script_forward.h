// TorchScript models: loading one onto the device in the job's precision, and
// the forward of the module as loaded or frozen for inference.
// Sees torch headers (no spdlog; see engine.h).
#pragma once

#include <torch/script.h>

#include <memory>
#include <string>

#include "infer/engine.h"
#include "infer/forward.h"

namespace mpsbatch {

// forward() of `module`; its outputs (a tensor, or each element of a tuple or
// list) as a list. Throws ModelError for an output that is not a tensor.
class ScriptForward : public Forward {
 public:
  ScriptForward(torch::jit::Module module, bool channels_last);

  TensorList Run(const TensorList& inputs) override;
  bool channels_last() const override { return channels_last_; }

 private:
  torch::jit::Module module_;
  bool channels_last_;
};

// The model `src` on `device` in eval mode, its floating state in
// `precision`'s dtype. With `record`, stores there the text of the file's
// export record (export_record.h), "" if it has none. Throws ModelError if it
// does not load.
torch::jit::Module LoadScript(const ModelSource& src, torch::Device device, Precision precision,
                              std::string* record = nullptr);

// torch.jit.freeze + optimize_for_inference (constant folding, conv-batchnorm
// folding, fusion), optionally with 4-D weights in channels-last order.
std::unique_ptr<Forward> MakeFrozen(const torch::jit::Module& module, bool channels_last);

}  // namespace mpsbatch
