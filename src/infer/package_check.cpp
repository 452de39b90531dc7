// Whether the model takes the job's inputs: CheckInputs of TorchEngine
// (torch_engine.h). A model the export helper recorded is checked against
// its record (export_record.h); an AOTInductor package also against what its
// archive records, or else by running the probe through it with its own
// input checks on. No spdlog here (see engine.h).
#include "common/error.h"
#include "infer/aoti_forward.h"
#include "infer/torch_engine.h"
#include "infer/torch_message.h"

namespace mpsbatch {

void TorchEngine::CheckInputs(const std::vector<ArrayView>& probe, const BatchSizes& batches) {
  if (record_) {
    std::vector<ModelFeed> feeds;
    for (size_t i = 0; i < probe.size(); ++i) feeds.push_back(FeedOf(probe[i], i));
    const std::string differs = ExportRecordMismatch(*record_, feeds, options_, IsAotiPackage(source_.path));
    if (!differs.empty()) throw ModelError("model.path '" + source_.path + "': " + differs);
  }
  std::string mismatch;
  if (IsAotiPackage(source_.path)) mismatch = PackageMismatch(source_, "model.path", probe, batches);
  // Under path: auto a model.compiled that does not fit is only a path
  // calibration rejects (Select checks it again).
  if (mismatch.empty() && compiled_ && options_.path == PathRequest::kAoti)
    mismatch = PackageMismatch(*compiled_, "model.compiled", probe, batches);
  if (!mismatch.empty()) throw ModelError(mismatch);
}

ModelFeed TorchEngine::FeedOf(const ArrayView& v, size_t i) const {
  const auto& names = options_.input_names;
  ModelFeed f{i < names.size() ? names[i] : "input " + std::to_string(i), v.dtype, preprocess_.InputTarget(v.dtype),
              Shape(v.shape.begin() + 1, v.shape.end())};
  if (options_.input_layout == InputLayout::kNhwc && f.row_shape.size() == 3)
    f.row_shape = {f.row_shape[2], f.row_shape[0], f.row_shape[1]};
  return f;
}

std::string TorchEngine::PackageMismatch(const ModelSource& package, const std::string& key,
                                         const std::vector<ArrayView>& probe, const BatchSizes& batches) {
  std::vector<ModelFeed> feeds;
  std::string fed;
  for (size_t i = 0; i < probe.size(); ++i) {
    feeds.push_back(FeedOf(probe[i], i));
    fed += (fed.empty() ? "" : ", ") + feeds[i].dataset + " as " + std::string(DTypeName(feeds[i].dtype)) + " rows " +
           ShapeString(feeds[i].row_shape);
  }
  const std::string where = key + " '" + package.path + "': ";
  if (auto inputs = ReadAotiInputChecks(package)) {
    const std::string mismatch = AotiInputMismatch(*inputs, feeds, batches, options_);
    return mismatch.empty() ? "" : where + mismatch;
  }
  const std::string refused = RunWithInputChecks(package, probe, batches);
  if (refused.empty()) return "";
  return where + "the package does not record what it takes, and its own input checks refuse the job's (" + fed +
         "): " + refused +
         "; feed what it was exported for (input.dtype, input.scale, precision, input.layout), or export it with a "
         "dynamic batch (torch.export.Dim) if the batch is what it refuses";
}

std::string TorchEngine::RunWithInputChecks(const ModelSource& package, const std::vector<ArrayView>& probe,
                                            const BatchSizes& batches) {
  prewarm_.Wait();  // no other thread reads the environment while it changes
  const int64_t rows = probe.front().shape.at(0);
  AotiInputChecksOn checks_on;
  std::unique_ptr<Forward> checked = MakeAoti(package, device_);
  auto attempt = [&](int64_t n) -> std::string {
    try {
      c10::InferenceMode guard;
      TensorList raw;
      for (ArrayView v : probe) {
        v.shape[0] = n;
        raw.push_back(n == 1 ? at::cat({preprocess_.ToDevice(v), preprocess_.ToDevice(v)}) : preprocess_.ToDevice(v));
      }
      preprocess_.StepWith(*checked, raw);
    } catch (const Error&) {
      throw;
    } catch (const c10::Error& e) {
      return Brief(e);
    } catch (const std::exception& e) {  // the package's own check, rethrown by the runner
      return Brief(e.what());
    }
    return "";
  };
  std::string refused = attempt(rows);
  if (refused.empty() && !batches.uniform && rows > 1) {
    refused = attempt(rows - 1);
    if (!refused.empty()) refused = "a batch of " + std::to_string(rows - 1) + " rows: " + refused;
  }
  return refused;
}

}  // namespace mpsbatch
