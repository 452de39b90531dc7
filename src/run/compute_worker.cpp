#include "run/compute_worker.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <deque>

#include "common/error.h"

namespace mpsbatch {

void NonFinite::Add(const NonFinite& other) {
  values += other.values;
  if (other.first_row >= 0 && (first_row < 0 || other.first_row < first_row)) first_row = other.first_row;
}

namespace {

// Non-finite values in `a` (float32 or float64; other dtypes have none), whose
// row 0 is input row `first_row`.
template <typename T>
NonFinite CountNonFinite(const HostArray& a, int64_t first_row) {
  NonFinite seen;
  const auto* v = reinterpret_cast<const T*>(a.bytes.data());
  const size_t n = a.bytes.size() / sizeof(T), per_row = std::max<size_t>(1, a.row_bytes() / sizeof(T));
  for (size_t i = 0; i < n; ++i) {
    if (std::isfinite(v[i])) continue;
    if (seen.values++ == 0) seen.first_row = first_row + static_cast<int64_t>(i / per_row);
  }
  return seen;
}

NonFinite CountNonFinite(const HostArray& a, int64_t first_row) {
  if (a.dtype == DType::kFloat32) return CountNonFinite<float>(a, first_row);
  if (a.dtype == DType::kFloat64) return CountNonFinite<double>(a, first_row);
  return {};
}

}  // namespace

std::vector<HostArray> ComputeChunk(Engine& engine, const JobPlan& plan, const ComputeSettings& settings,
                                    const WorkItem& item, NonFinite* nonfinite) {
  const int64_t batch_size = settings.batch_size;
  const int64_t rows = item.chunk.rows();
  std::vector<HostArray> outputs;
  for (const auto& spec : plan.outputs) {
    Shape shape{rows};
    shape.insert(shape.end(), spec.row_shape.begin(), spec.row_shape.end());
    outputs.emplace_back(spec.dtype, shape);
  }
  auto where = [&](int64_t b, int64_t e) {
    return "rows " + std::to_string(item.chunk.begin + b) + ".." + std::to_string(item.chunk.begin + e);
  };
  // Takes the oldest batch in flight, [b, e), off the engine into `outputs`.
  auto finish = [&](int64_t b, int64_t e) {
    std::vector<HostArray> ys;
    try {
      ys = engine.Finish();
    } catch (const ModelError& error) {
      throw ModelError(where(b, e) + ": " + error.what());
    }
    if (ys.size() != outputs.size())
      throw ModelError(where(b, e) + ": the model returned " + std::to_string(ys.size()) + " outputs, " +
                       std::to_string(outputs.size()) + " on the first batch");
    for (size_t o = 0; o < ys.size(); ++o) {
      Shape expected{e - b};
      expected.insert(expected.end(), plan.outputs[o].row_shape.begin(), plan.outputs[o].row_shape.end());
      if (ys[o].shape != expected)
        throw ModelError(where(b, e) + ": output '" + plan.outputs[o].name + "' has shape " + ShapeString(ys[o].shape) +
                         ", expected " + ShapeString(expected) + " (per-row shape as on the first batch)");
      const NonFinite seen = CountNonFinite(ys[o], item.chunk.begin + b);
      if (seen.values > 0 && settings.fail_on_nonfinite)
        throw ModelError(where(b, e) + ": output '" + plan.outputs[o].name +
                         "' has a non-finite value (NaN or Inf) in row " + std::to_string(seen.first_row) +
                         ", and fail_on_nonfinite is set");
      nonfinite->Add(seen);
      const size_t row_bytes = outputs[o].row_bytes();
      std::memcpy(outputs[o].bytes.data() + static_cast<size_t>(b) * row_bytes, ys[o].bytes.data(), ys[o].bytes.size());
    }
  };
  std::deque<std::pair<int64_t, int64_t>> pending;  // batches in flight, oldest first
  std::vector<ArrayView> views(item.inputs.size());
  try {
    for (int64_t b = 0; b < rows; b += batch_size) {
      const int64_t e = std::min(rows, b + batch_size);
      if (pending.size() >= engine.max_in_flight()) {
        finish(pending.front().first, pending.front().second);
        pending.pop_front();
      }
      for (size_t i = 0; i < views.size(); ++i) views[i] = RowSlice(item.inputs[i], b, e);
      try {
        engine.Start(views);
      } catch (const ModelError& error) {
        throw ModelError(where(b, e) + ": " + error.what());
      }
      pending.emplace_back(b, e);
    }
    while (!pending.empty()) {
      finish(pending.front().first, pending.front().second);
      pending.pop_front();
    }
  } catch (...) {
    engine.Abandon();
    throw;
  }
  return outputs;
}

int64_t SearchBatchSize(Engine& engine, const WorkItem& item, int64_t max_rows, double budget_seconds,
                        std::string* log) {
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  const int64_t limit = std::max<int64_t>(1, std::min(max_rows, item.chunk.rows()));
  std::vector<std::pair<int64_t, double>> rates;  // batch size, rows/s
  double best = 0;
  int flat = 0;  // sizes in a row that gained under 5%
  for (int64_t b = std::min<int64_t>(16, limit);; b = std::min(b * 2, limit)) {
    std::vector<ArrayView> views;
    for (const auto& in : item.inputs) views.push_back(RowSlice(in, 0, b));
    double rate = 0;
    try {
      rate = MeasureRowsPerSecond(engine, views, std::clamp((budget_seconds - elapsed()) / 16, 0.02, 0.1));
    } catch (const DeviceError& e) {  // out of memory: the sizes so far must do
      engine.Abandon();
      if (rates.empty()) throw;
      *log += (log->empty() ? "" : ", ") + std::to_string(b) + ": out of memory";
      break;
    }
    rates.emplace_back(b, rate);
    *log +=
        (log->empty() ? "" : ", ") + std::to_string(b) + ": " + std::to_string(static_cast<int64_t>(rate)) + " rows/s";
    flat = rate < best * 1.05 ? flat + 1 : 0;
    best = std::max(best, rate);
    if (flat >= 2 || b >= limit || elapsed() > budget_seconds) break;
  }
  for (const auto& [b, rate] : rates)
    if (rate >= best * 0.97) return b;
  return rates.back().first;
}

ComputeWorker::ComputeWorker(Engine& engine, const JobPlan& plan, ComputeSettings settings, size_t depth)
    : engine_(engine), plan_(plan), settings_(settings), todo_(depth), done_(depth + 1), thread_([this] { Loop(); }) {}

ComputeWorker::~ComputeWorker() {
  todo_.Close();
  done_.Close();
  if (thread_.joinable()) thread_.join();
}

void ComputeWorker::Submit(WorkItem item) {
  if (!todo_.Push(std::move(item))) throw InternalError("compute worker is closed");
}

ResultItem ComputeWorker::Next() {
  auto r = done_.Pop();
  if (!r) throw InternalError("compute worker ended early");
  return std::move(*r);
}

std::optional<ResultItem> ComputeWorker::NextFor(std::chrono::microseconds timeout) { return done_.PopFor(timeout); }

void ComputeWorker::Loop() {
  while (auto item = todo_.Pop()) {
    ResultItem result{item->chunk, {}, {}, nullptr};
    const auto start = std::chrono::steady_clock::now();
    try {
      result.outputs = ComputeChunk(engine_, plan_, settings_, *item, &result.nonfinite);
    } catch (...) {
      result.error = std::current_exception();
    }
    compute_ns_ +=
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count();
    const bool failed = result.error != nullptr;
    if (!done_.Push(std::move(result)) || failed) return;
  }
}

}  // namespace mpsbatch
