// The libtorch Engine: one model on one device, tying together the device
// (torch_device.h), its prewarm (prewarm.h), the ways to run forward()
// (script_forward.h, aoti_forward.h, cuda_graph.h), the conversions around
// them (preprocess.h) and the batches in flight (cuda_pipeline.h). Its
// members live in three files: torch_engine.cpp (loading, the batch
// pipeline, Engine::Create), path_selection.cpp (Calibrate and Adopt) and
// package_check.cpp (CheckInputs). Sees torch headers (no spdlog; see
// engine.h).
#pragma once

#include <torch/script.h>

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "infer/aoti_signature.h"
#include "infer/cuda_graph.h"
#include "infer/cuda_pipeline.h"
#include "infer/engine.h"
#include "infer/export_record.h"
#include "infer/forward.h"
#include "infer/preprocess.h"
#include "infer/prewarm.h"

namespace mpsbatch {

class TorchEngine : public Engine {
 public:
  // Waits for `prewarm`'s device context before it picks the device, and for
  // the whole prewarm before its first batch and before path selection.
  TorchEngine(const ModelSource& src, const EngineOptions& o, std::optional<ModelSource> compiled,
              DevicePrewarm& prewarm);
  ~TorchEngine() override;

  size_t max_in_flight() const override { return device_.is_cuda() ? 2 : 1; }
  size_t in_flight() const override { return in_flight_.size(); }

  void Start(const std::vector<ArrayView>& inputs) override;
  std::vector<HostArray> Finish() override;
  void Abandon() override;
  void UseOnThisThread() override;

  void CheckInputs(const std::vector<ArrayView>& probe, const BatchSizes& batches) override;

  Calibration Calibrate(const std::vector<ArrayView>& batch, const CalibrationBudget& budget) override {
    return Select(batch, budget, "");
  }

  Calibration Adopt(const std::string& path, const std::vector<ArrayView>& batch) override {
    return Select(batch, 0, path);
  }

  DeviceKind device_kind() const override;
  std::string device_name() const override { return device_.str(); }
  std::string device_model() const override;
  std::string device_uuid() const override;
  std::string format() const override;

 private:
  // Calibrate and Adopt: `adopt` names the one path to build ("" to choose).
  Calibration Select(const std::vector<ArrayView>& batch, const CalibrationBudget& budget, const std::string& adopt);

  void AddPath(const std::string& name, std::unique_ptr<Forward> forward) {
    paths_.emplace_back(name, std::move(forward));
  }

  Forward* FindPath(const std::string& name) {
    for (auto& [n, f] : paths_)
      if (n == name) return f.get();
    return nullptr;
  }

  // What the job hands the model for input `i`, of which `v` holds rows.
  ModelFeed FeedOf(const ArrayView& v, size_t i) const;

  // "" if `package` takes what the job feeds: what its archive records, or
  // else its own input checks on the probe. Otherwise why not, naming `key`.
  std::string PackageMismatch(const ModelSource& package, const std::string& key, const std::vector<ArrayView>& probe,
                              const BatchSizes& batches);

  // Runs `probe` through a fresh load of `package` with AOTInductor's input
  // checks on, and, unless every batch is full, one row fewer (the smaller
  // last batch). "" if both pass; otherwise the package's complaint. A batch
  // of one row is checked as two copies of it: torch.export records 2 as a
  // dynamic batch's lower bound where the example said 1, such packages run
  // 1-row batches, and a CUDA package says which check failed only on stderr.
  std::string RunWithInputChecks(const ModelSource& package, const std::vector<ArrayView>& probe,
                                 const BatchSizes& batches);

  // Runs `fn`, turning torch's exceptions into mpsbatch's.
  template <typename Fn>
  void Guarded(const std::string& shapes, Fn&& fn);

  // The step by the path chosen for `rows`-row batches.
  TensorList Step(int64_t rows, const TensorList& raw) {
    if (graph_ && rows == graph_rows_) return graph_->Replay(raw);
    return preprocess_.StepWith(*active_, raw);
  }

  DevicePrewarm& prewarm_;
  EngineOptions options_;
  torch::Device device_;
  ModelSource source_;
  std::optional<ModelSource> compiled_;
  std::optional<ExportRecord> record_;  // what the model was exported for, if the file says
  torch::jit::Module script_;           // as loaded (TorchScript models)
  std::vector<std::pair<std::string, std::unique_ptr<Forward>>> paths_;  // built so far
  Forward* active_ = nullptr;                                            // batches of any size
  std::string active_name_;
  std::unique_ptr<CapturedStep> graph_;  // batches of graph_rows_ rows, when chosen
  int64_t graph_rows_ = -1;
  bool prewarm_joined_ = false;  // see Start
  Preprocess preprocess_;
  std::optional<CudaPipeline> cuda_;  // CUDA
  std::deque<InFlight> in_flight_;
};

}  // namespace mpsbatch
