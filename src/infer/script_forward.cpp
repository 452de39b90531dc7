#include "infer/script_forward.h"

#include "common/error.h"
#include "infer/bytes_reader.h"
#include "infer/checkpoint_file.h"
#include "infer/export_record.h"
#include "infer/torch_message.h"
#include "infer/torch_types.h"

namespace mpsbatch {

namespace {

TensorList Unpack(const torch::jit::IValue& out) {
  TensorList outs;
  auto take = [&](const torch::jit::IValue& v) {
    if (!v.isTensor()) throw ModelError("the model returned a " + v.tagKind() + " where mpsbatch expects a tensor");
    outs.push_back(v.toTensor());
  };
  if (out.isTuple()) {
    for (const auto& v : out.toTupleRef().elements()) take(v);
  } else if (out.isList()) {
    for (const auto& v : out.toList()) take(v);
  } else {
    take(out);
  }
  return outs;
}

}  // namespace

ScriptForward::ScriptForward(torch::jit::Module module, bool channels_last)
    : module_(std::move(module)), channels_last_(channels_last) {}

TensorList ScriptForward::Run(const TensorList& inputs) {
  std::vector<torch::jit::IValue> args(inputs.begin(), inputs.end());
  return Unpack(module_.forward(args));
}

torch::jit::Module LoadScript(const ModelSource& src, torch::Device device, Precision precision, std::string* record) {
  torch::jit::Module module;
  torch::jit::ExtraFilesMap extra{{kExportRecordFile, ""}};
  try {
    if (src.bytes) {
      module = torch::jit::load(std::make_shared<BytesReader>(src.bytes), device, extra);
    } else {
      module = torch::jit::load(src.path, device, extra);
    }
  } catch (const c10::Error& e) {
    const std::string checkpoint = CheckpointNotModel(src);
    if (!checkpoint.empty()) throw ModelError(src.path + ": " + checkpoint);
    throw ModelError(src.path + ": not a loadable TorchScript model: " + Brief(e));
  }
  if (record) *record = extra[kExportRecordFile];
  module.eval();
  if (precision != Precision::kFp32) {
    // Only floating state changes dtype: integer buffers (position ids,
    // counters) must keep theirs.
    const auto dtype = ScalarTypeOf(PrecisionDType(precision));
    for (auto p : module.parameters())
      if (p.is_floating_point()) p.set_data(p.to(dtype));
    for (auto b : module.buffers())
      if (b.is_floating_point()) b.set_data(b.to(dtype));
  }
  return module;
}

std::unique_ptr<Forward> MakeFrozen(const torch::jit::Module& module, bool channels_last) {
  torch::jit::Module copy = module.clone();
  copy.eval();
  if (channels_last)
    for (auto p : copy.parameters())
      if (p.dim() == 4) p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
  torch::jit::Module frozen = torch::jit::optimize_for_inference(copy);
  return std::make_unique<ScriptForward>(std::move(frozen), channels_last);
}

}  // namespace mpsbatch
