// Path selection: Calibrate and Adopt of TorchEngine (torch_engine.h). Builds
// each execution path (eager, frozen, channels-last, AOTInductor, CUDA graph),
// checks that it computes what the eager path computes, times it, and keeps
// the fastest. No spdlog here (see engine.h).
#include <c10/core/StreamGuard.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "common/error.h"
#include "infer/aoti_forward.h"
#include "infer/elapsed.h"
#include "infer/script_forward.h"
#include "infer/torch_engine.h"
#include "infer/torch_message.h"
#include "infer/torch_types.h"

namespace mpsbatch {

namespace {

// Calibration's time budget ran out before a path.
class BudgetRanOut : public ModelError {
 public:
  BudgetRanOut()
      : ModelError("calibration's time ran out before this path (calibration_seconds, or its share of the job)") {}
};

// Records on `timing` why the exception in flight rejects its path.
void Reject(PathTiming& timing) {
  try {
    throw;
  } catch (const BudgetRanOut& e) {
    timing.rejected = e.what();
    timing.for_now = true;
  } catch (const c10::OutOfMemoryError& e) {
    timing.rejected = Brief(e);
    timing.for_now = true;
  } catch (const c10::Error& e) {
    timing.rejected = Brief(e);
  } catch (const std::exception& e) {
    timing.rejected = Brief(e.what());
    // Guarded turns torch's out-of-memory into a DeviceError, and only that.
    timing.for_now = dynamic_cast<const DeviceError*>(&e) != nullptr;
  }
}

// How far `got` may be from `want` (the eager path's outputs) for a path to
// count as computing the same thing: a fraction of the output's largest
// magnitude for floating outputs, of the elements for integer ones.
std::string Disagreement(const std::vector<HostArray>& want, const std::vector<HostArray>& got, Precision precision) {
  if (want.size() != got.size())
    return "returns " + std::to_string(got.size()) + " outputs, eager " + std::to_string(want.size());
  const double tolerance = precision == Precision::kFp32 ? 1e-3 : 5e-2;
  for (size_t o = 0; o < want.size(); ++o) {
    if (want[o].shape != got[o].shape || want[o].dtype != got[o].dtype)
      return "output " + std::to_string(o) + " is " + ShapeString(got[o].shape) + ", eager's " +
             ShapeString(want[o].shape);
    const auto opts = torch::TensorOptions().dtype(ScalarTypeOf(want[o].dtype));
    auto a = torch::from_blob(const_cast<std::byte*>(want[o].bytes.data()), want[o].shape, opts).to(torch::kFloat64);
    auto b = torch::from_blob(const_cast<std::byte*>(got[o].bytes.data()), got[o].shape, opts).to(torch::kFloat64);
    if (a.numel() == 0) continue;
    const bool both_finite = torch::equal(torch::isfinite(a), torch::isfinite(b));
    if (!both_finite) return "output " + std::to_string(o) + " has NaN or Inf where eager's has not, or the reverse";
    a = torch::nan_to_num(a, 0, 0, 0);
    b = torch::nan_to_num(b, 0, 0, 0);
    if (IsFloating(want[o].dtype)) {
      const double scale = a.abs().max().item<double>() + 1e-6;
      const double diff = (a - b).abs().max().item<double>();
      if (diff > tolerance * scale) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "output %zu differs from eager's by up to %.3g (%.2g of its largest value)", o,
                      diff, diff / scale);
        return buf;
      }
    } else {
      const double differ = a.ne(b).to(torch::kFloat64).mean().item<double>();
      if (differ > 0.01)
        return "output " + std::to_string(o) + ": " + std::to_string(static_cast<int>(differ * 100)) +
               "% of values differ from eager's";
    }
  }
  return "";
}

}  // namespace

Calibration TorchEngine::Select(const std::vector<ArrayView>& batch, const CalibrationBudget& budget,
                                const std::string& adopt) {
  // The prewarm thread's last CUDA work would otherwise run beside the timing
  // and beside a capture's sync-debug check (its own .item()).
  prewarm_.Wait();
  const auto t0 = std::chrono::steady_clock::now();
  Calibration c;
  c.batch_rows = batch.front().shape.at(0);
  // Adopting another rank's choice forces it, as path: would.
  const PathRequest want = adopt.empty() ? options_.path : PathRequest::kEager;
  const bool script = !IsAotiPackage(source_.path);
  const bool graphs = device_.is_cuda() && CudaGraphsAvailable();
  // The paths to try, in order; cudagraph comes last, over the best other.
  std::vector<std::string> names;
  bool want_graph = graphs && (want == PathRequest::kAuto || want == PathRequest::kCudaGraph);
  if (!adopt.empty()) {
    want_graph = adopt.rfind("cudagraph(", 0) == 0 && adopt.back() == ')';
    names.push_back(want_graph ? adopt.substr(10, adopt.size() - 11) : adopt);
    if (want_graph && !graphs) throw DeviceError("cannot build path " + adopt + " on " + device_name());
  } else {
    auto offer = [&](const std::string& name, PathRequest as) {
      if (want == PathRequest::kAuto || want == as) names.push_back(name);
    };
    bool four_d = false;
    for (const auto& v : batch) four_d = four_d || v.shape.size() == 4;
    if (script) {
      offer("eager", PathRequest::kEager);
      // On a GPU, a convolutional model runs fastest frozen in channels-last
      // (ResNet-50 on an H100: 18.9k img/s, against 9.4k frozen and 8.7k
      // eager): that variant comes first, so that a short job whose share of
      // time runs out after one more path still gets it.
      if (four_d && !device_.is_cpu()) offer("frozen+channels_last", PathRequest::kFrozen);
      offer("frozen", PathRequest::kFrozen);
    }
    if (!script || compiled_) offer("aoti", PathRequest::kAoti);
    if (want == PathRequest::kCudaGraph && !graphs)
      throw DeviceError("path: cudagraph needs a CUDA device and a CUDA libtorch; this rank runs on " + device_name());
  }

  // AOTInductor's runner synchronises inside its run, which a CUDA graph's
  // capture forbids: auto does not try to capture it (a forced path:
  // cudagraph still tries, and says why it failed). With one candidate left,
  // auto has nothing to choose between and times nothing.
  const bool auto_choice = adopt.empty() && want == PathRequest::kAuto;
  const bool only_aoti = names.size() == 1 && names.front() == "aoti";
  if (auto_choice && only_aoti) want_graph = false;

  // What every path must agree with: the model as loaded.
  graph_.reset();
  active_ = paths_.front().second.get();
  active_name_ = paths_.front().first;
  const auto reference_start = std::chrono::steady_clock::now();
  const std::vector<HostArray> reference = Run(batch);
  // The first rate: eager's run on these rows, before any warm-up, so a low
  // one; what a path's timing would cost and the job's length follow from it
  // until a path is timed.
  const double reference_rate = static_cast<double>(c.batch_rows) / std::max(1e-9, Seconds(reference_start));

  const size_t planned = names.size() + (want_graph ? 1 : 0);
  // Timing each path for a tenth of a second at most (four to nine of
  // ResNet-50's batches on a GPU, five of a small conv net's on one CPU core)
  // tells paths apart that differ by more than a few percent, and a path
  // chosen wrongly among closer ones costs the job no more than that; a fifth
  // of a second chose the same and cost a 6 s job 2.5 points more
  // (docs/performance.md, "`path: auto` against the forced paths").
  std::string best;
  double best_rate = -1;
  auto rate = [&] { return best_rate > 0 ? best_rate : reference_rate; };
  auto left = [&] { return budget.Left(rate()) - Seconds(t0); };
  auto share = [&](size_t paths) { return std::clamp(left() / (3.0 * paths), 0.0, 0.1); };
  // A path's check, warm-up and one timed batch. (Eager is checked against
  // its own reference run too: a model whose outputs vary from run to run
  // fails there.)
  auto cost = [&] { return 3.0 * static_cast<double>(c.batch_rows) / rate(); };
  // Only auto times. A forced path is built and checked, not timed: of its
  // variants (path: frozen on a GPU, with and without channels-last) the
  // first that builds and agrees with eager runs, whatever the timing, the
  // budget or the rank count would say, so that the same job and path give
  // the same bits on any rank count.
  const bool timed = adopt.empty() && want == PathRequest::kAuto && (names.size() > 1 || want_graph);
  const bool forced_graph = want == PathRequest::kCudaGraph || (want_graph && !adopt.empty());
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string& name = names[i];
    PathTiming timing{name, 0, ""};
    try {
      if (timed && left() < cost()) throw BudgetRanOut();
      Forward* forward = FindPath(name);
      if (!forward) {
        if (name == "frozen") AddPath(name, MakeFrozen(script_, false));
        if (name == "frozen+channels_last") AddPath(name, MakeFrozen(script_, true));
        if (name == "aoti") {
          if (!compiled_) throw ModelError("no AOTInductor package to build path aoti from");
          // Fed what it was not exported for, a package computes garbage or
          // aborts the process inside a kernel: check before its first run.
          const std::string mismatch = PackageMismatch(*compiled_, "model.compiled", batch, {c.batch_rows, true});
          if (!mismatch.empty()) throw ModelError(mismatch);
          AddPath(name, MakeAoti(*compiled_, device_));
        }
        forward = FindPath(name);
        if (!forward) throw ModelError("unknown path '" + name + "'");
      }
      active_ = forward;
      active_name_ = name;
      const std::string differs = Disagreement(reference, Run(batch), options_.precision);
      if (!differs.empty()) throw ModelError(differs);
      if (timed) timing.rows_per_second = MeasureRowsPerSecond(*this, batch, share(planned - i));
    } catch (...) {
      Reject(timing);
    }
    Abandon();
    if (timing.rejected.empty() && (best.empty() || timing.rows_per_second > best_rate)) {
      best_rate = timing.rows_per_second;
      best = name;
    }
    c.paths.push_back(timing);
    if (!timed && !best.empty()) break;  // untimed: the first that runs
  }
  if (best.empty()) {
    if (!adopt.empty()) throw ModelError("path " + adopt + " cannot run here: " + c.paths.back().rejected);
    if (want != PathRequest::kAuto && want != PathRequest::kCudaGraph)
      throw ModelError("path: " + std::string(PathRequestName(want)) +
                       " cannot run this model: " + c.paths.back().rejected);
    // Auto keeps the model as loaded, which the probe already ran.
    best = paths_.front().first;
  }
  active_ = FindPath(best);
  active_name_ = best;
  c.chosen = best;
  c.rows_per_second = std::max(0.0, best_rate);

  if (auto_choice && best == "aoti") want_graph = false;
  if (want_graph) {
    PathTiming timing{"cudagraph", 0, ""};
    bool captured = false;
    try {
      if (timed && left() < cost()) throw BudgetRanOut();
      TensorList example;
      {
        c10::InferenceMode guard;
        for (const auto& v : batch) example.push_back(preprocess_.ToDevice(v));
      }
      c10::StreamGuard on_compute(cuda_->compute_stream());
      Forward* base = active_;
      {
        c10::InferenceMode guard;
        graph_ =
            CaptureCudaGraph([this, base](const TensorList& raw) { return preprocess_.StepWith(*base, raw); }, example);
      }
      captured = true;
      graph_rows_ = c.batch_rows;
      const std::string differs = Disagreement(reference, Run(batch), options_.precision);
      if (!differs.empty()) throw ModelError(differs);
      if (timed) timing.rows_per_second = MeasureRowsPerSecond(*this, batch, share(1));
    } catch (...) {
      Reject(timing);
      // AOTInductor's runner reports only "run_func_(...) API call failed at
      // <its source file>, line N": say what it means instead.
      if (active_name_ == "aoti" && !captured && !timing.for_now)
        timing.rejected = "an AOTInductor package's run cannot be captured in a CUDA graph";
    }
    Abandon();
    timing.path = "cudagraph(" + active_name_ + ")";
    c.paths.push_back(timing);
    if (timing.rejected.empty() && (forced_graph || timing.rows_per_second > best_rate)) {
      c.chosen = timing.path;
      c.rows_per_second = timing.rows_per_second;
    } else {
      graph_.reset();
      graph_rows_ = -1;
      if (forced_graph) throw ModelError("path: cudagraph cannot capture this model: " + timing.rejected);
    }
  }
  c.seconds = Seconds(t0);
  c.timed = c.rows_per_second > 0;
  // Paths built but not chosen hold a copy of the weights each: keep only the
  // model as loaded (the reference for later calls) and the chosen one.
  const Forward* loaded = paths_.front().second.get();
  std::erase_if(paths_, [&](const auto& p) { return p.second.get() != loaded && p.second.get() != active_; });
  return c;
}

}  // namespace mpsbatch
