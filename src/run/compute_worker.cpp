#include "run/compute_worker.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <deque>

#include "common/error.h"
#include "common/fault.h"

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

ChunkPipeline::ChunkPipeline(Engine& engine, const JobPlan& plan, const ComputeSettings& settings)
    : engine_(engine), plan_(plan), settings_(settings) {}

ChunkPipeline::~ChunkPipeline() { engine_.Abandon(); }

void ChunkPipeline::Add(WorkItem item) {
  Open o;
  o.result.chunk = item.chunk;
  o.result.timing = item.timing;
  for (const auto& spec : plan_.outputs) {
    Shape shape{item.chunk.rows()};
    shape.insert(shape.end(), spec.row_shape.begin(), spec.row_shape.end());
    o.result.outputs.emplace_back(spec.dtype, shape);
  }
  if (settings_.skip_failed_rows) {
    o.result.outputs.emplace_back(DType::kUInt8, Shape{item.chunk.rows()});
    std::fill(o.result.outputs.back().bytes.begin(), o.result.outputs.back().bytes.end(), std::byte{0});
  }
  o.item = std::move(item);
  open_.push_back(std::move(o));
}

bool ChunkPipeline::CanStart() const {
  for (const auto& o : open_)
    if (o.started < o.item.chunk.rows()) return true;
  return false;
}

ResultItem ChunkPipeline::Fail(Open& chunk, std::exception_ptr error) {
  engine_.Abandon();
  flying_.clear();
  ResultItem r{chunk.item.chunk, {}, {}, error, {}, chunk.result.timing};
  open_.clear();
  return r;
}

namespace {

std::string Where(const Chunk& chunk, int64_t b, int64_t e) {
  return "rows " + std::to_string(chunk.begin + b) + ".." + std::to_string(chunk.begin + e);
}

}  // namespace

std::optional<ResultItem> ChunkPipeline::StartNext() {
  for (auto& o : open_) {
    const int64_t rows = o.item.chunk.rows();
    if (o.started >= rows) continue;
    const int64_t b = o.started;
    if (auto it = o.isolated.find(b); it != o.isolated.end()) {
      o.started = it->second.end;
      flying_.push_back({&o, b, it->second.end, true});
      return std::nullopt;
    }
    const int64_t e = std::min(rows, b + settings_.batch_size);
    std::vector<ArrayView> views;
    for (const auto& in : o.item.inputs) views.push_back(RowSlice(in, b, e));
    const auto started = TimelineClock::now();
    try {
      try {
        engine_.Start(views);
      } catch (const ModelError& error) {
        if (settings_.skip_failed_rows && MayBeRowFailure(std::current_exception())) {
          Isolate(o, b, e);
          return std::nullopt;
        }
        throw ModelError(Where(o.item.chunk, b, e) + ": " + error.what());
      }
    } catch (...) {
      return Fail(o, std::current_exception());
    }
    if (b == 0) o.result.timing.compute_begin = started;
    o.result.timing.start_seconds += SecondsBetween(started, TimelineClock::now());
    o.started = e;
    flying_.push_back({&o, b, e});
    return std::nullopt;
  }
  return std::nullopt;
}

void ChunkPipeline::Isolate(Open& chunk, int64_t b, int64_t e) {
  engine_.Abandon();
  for (const Batch& f : flying_) f.chunk->started = std::min(f.chunk->started, f.begin);
  flying_.clear();
  chunk.started = std::min(chunk.started, b);
  std::vector<ArrayView> views;
  for (const auto& in : chunk.item.inputs) views.push_back(RowSlice(in, b, e));
  try {
    chunk.isolated[b] = {e, IsolateRows(engine_, views)};
  } catch (const ModelError& error) {
    throw ModelError(Where(chunk.item.chunk, b, e) + ": " + error.what());
  }
}

namespace {

// Non-finite values in row `row` of `a`.
template <typename T>
int64_t RowNonFinite(const HostArray& a, int64_t row) {
  const size_t per_row = a.row_bytes() / sizeof(T);
  const auto* v = reinterpret_cast<const T*>(a.bytes.data()) + static_cast<size_t>(row) * per_row;
  return std::count_if(v, v + per_row, [](T x) { return !std::isfinite(x); });
}

int64_t RowNonFinite(const HostArray& a, int64_t row) {
  if (a.dtype == DType::kFloat32) return RowNonFinite<float>(a, row);
  if (a.dtype == DType::kFloat64) return RowNonFinite<double>(a, row);
  return 0;
}

}  // namespace

std::optional<ResultItem> ChunkPipeline::FinishOldest() {
  const Batch batch = flying_.front();
  flying_.pop_front();
  Open& o = *batch.chunk;
  const int64_t b = batch.begin, e = batch.end;
  const auto finishing = TimelineClock::now();
  try {
    std::vector<HostArray> ys;
    std::vector<std::string> errors;
    if (batch.isolated) {
      auto node = o.isolated.extract(b);
      ys = std::move(node.mapped().batch.outputs);
      errors = std::move(node.mapped().batch.errors);
    } else {
      try {
        ys = engine_.Finish();
      } catch (const ModelError& error) {
        if (settings_.skip_failed_rows && MayBeRowFailure(std::current_exception())) {
          Isolate(o, b, e);
          return std::nullopt;
        }
        throw ModelError(Where(o.item.chunk, b, e) + ": " + error.what());
      }
    }
    Store(o, b, e, std::move(ys), std::move(errors));
  } catch (...) {
    return Fail(o, std::current_exception());
  }
  o.done += e - b;
  o.result.timing.compute_end = TimelineClock::now();
  o.result.timing.finish_seconds += SecondsBetween(finishing, o.result.timing.compute_end);
  // Batches finish in the order they started, so chunks complete in order.
  if (o.done < o.item.chunk.rows() || &o != &open_.front()) return std::nullopt;
  ResultItem r = std::move(o.result);
  open_.pop_front();
  return r;
}

void ChunkPipeline::Store(Open& o, int64_t b, int64_t e, std::vector<HostArray> ys, std::vector<std::string> errors) {
  const std::string where = Where(o.item.chunk, b, e);
  const size_t n_outputs = plan_.outputs.size();
  auto& outputs = o.result.outputs;
  const bool all_failed = !errors.empty() && ys.empty();
  if (!all_failed && ys.size() != n_outputs)
    throw ModelError(where + ": the model returned " + std::to_string(ys.size()) + " outputs, " +
                     std::to_string(n_outputs) + " on the first batch");
  for (size_t i = 0; i < ys.size(); ++i) {
    Shape expected{e - b};
    expected.insert(expected.end(), plan_.outputs[i].row_shape.begin(), plan_.outputs[i].row_shape.end());
    if (ys[i].shape != expected)
      throw ModelError(where + ": output '" + plan_.outputs[i].name + "' has shape " + ShapeString(ys[i].shape) +
                       ", expected " + ShapeString(expected) + " (per-row shape as on the first batch)");
    if (ys[i].dtype != plan_.outputs[i].dtype)
      throw ModelError(where + ": output '" + plan_.outputs[i].name + "' is " + std::string(DTypeName(ys[i].dtype)) +
                       ", " + std::string(DTypeName(plan_.outputs[i].dtype)) +
                       " on the first batch; set output.dtype to store every batch in one type");
    if (!settings_.skip_failed_rows) {
      const NonFinite seen = CountNonFinite(ys[i], o.item.chunk.begin + b);
      if (seen.values > 0 && settings_.fail_on_nonfinite)
        throw ModelError(where + ": output '" + plan_.outputs[i].name +
                         "' has a non-finite value (NaN or Inf) in row " + std::to_string(seen.first_row) +
                         ", and fail_on_nonfinite is set");
      o.result.nonfinite.Add(seen);
    }
    const size_t row_bytes = outputs[i].row_bytes();
    std::memcpy(outputs[i].bytes.data() + static_cast<size_t>(b) * row_bytes, ys[i].bytes.data(), ys[i].bytes.size());
  }
  if (!settings_.skip_failed_rows) return;
  // Per row: failed alone, or (fail_on_nonfinite) non-finite; else counted.
  errors.resize(static_cast<size_t>(e - b));
  for (int64_t r = 0; r < e - b; ++r) {
    std::string& error = errors[static_cast<size_t>(r)];
    const int64_t row = o.item.chunk.begin + b + r;
    for (size_t i = 0; i < ys.size() && error.empty(); ++i) {
      const int64_t bad = RowNonFinite(ys[i], r);
      if (bad == 0) continue;
      if (settings_.fail_on_nonfinite) {
        error = "output '" + plan_.outputs[i].name +
                "' has a non-finite value (NaN or Inf), and fail_on_nonfinite "
                "is set";
      } else {
        o.result.nonfinite.Add({bad, row});
      }
    }
    if (error.empty()) continue;
    for (size_t i = 0; i < n_outputs; ++i) FillRow(outputs[i], b + r);
    outputs[n_outputs].bytes[static_cast<size_t>(b + r)] = std::byte{1};
    if (o.result.failed_rows.size() < kMessagesPerChunk) o.result.failed_rows.push_back({row, std::move(error)});
  }
}

int64_t SearchBatchSize(Engine& engine, const std::vector<HostArray>& inputs, int64_t max_rows, int64_t chunk_rows,
                        const CalibrationBudget& budget, std::string* log) {
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  const int64_t limit = std::max<int64_t>(1, std::min(max_rows, inputs.front().rows()));
  std::vector<std::pair<int64_t, double>> rates;  // batch size, rows/s
  double best = 0;
  int flat = 0;  // sizes in a row that gained under 5%
  for (int64_t b = std::min<int64_t>(16, limit);; b = std::min(b * 2, limit)) {
    std::vector<ArrayView> views;
    for (const auto& in : inputs) views.push_back(RowSlice(in, 0, b));
    const double left = budget.Left(best) - elapsed();
    if (!rates.empty() && left < 2.0 * static_cast<double>(b) / best) break;  // warm-up and one batch
    double rate = 0;
    try {
      rate = MeasureRowsPerSecond(engine, views, std::clamp(left / 16, 0.0, 0.1));
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
    if (flat >= 2 || b >= limit || elapsed() > budget.Left(best)) break;
  }
  for (const auto& [b, rate] : rates)
    if (rate >= best * 0.97 && chunk_rows % b == 0) return b;
  for (const auto& [b, rate] : rates)
    if (rate >= best * 0.97) return b;
  return rates.back().first;
}

ComputeWorker::ComputeWorker(Engine& engine, const JobPlan& plan, ComputeSettings settings, size_t depth)
    : engine_(engine), plan_(plan), settings_(settings), todo_(depth), done_(depth + 1), thread_([this] { Loop(); }) {}

ComputeWorker::~ComputeWorker() {
  // The thread ends once the queues are closed; thread_ then joins it.
  todo_.Close();
  done_.Close();
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

void ComputeWorker::Loop() noexcept {
  try {
    engine_.UseOnThisThread();
    Work();
  } catch (...) {
    // The owner rethrows it from Next/NextFor (a chunk-less result: no chunk
    // was lost that the owner does not already count as in flight).
    done_.Push(ResultItem{Chunk{}, {}, {}, std::current_exception(), {}, {}});
  }
}

void ComputeWorker::Work() {
  FaultPoint("compute-thread");
  ChunkPipeline pipe(engine_, plan_, settings_);
  auto busy_since = std::chrono::steady_clock::now();
  auto count_busy = [&] {
    const auto now = std::chrono::steady_clock::now();
    compute_ns_ += std::chrono::duration_cast<std::chrono::nanoseconds>(now - busy_since).count();
    busy_since = now;
  };
  while (true) {
    // Another chunk when every started batch's chunk is under way: wait for
    // one only with nothing in flight, so the device never idles for it.
    if (!pipe.CanStart()) {
      std::optional<WorkItem> item;
      if (pipe.Idle()) {
        count_busy();
        item = todo_.Pop();
        busy_since = std::chrono::steady_clock::now();
        if (!item) return;  // closed and drained
      } else {
        item = todo_.TryPop();
      }
      if (item) {
        const Chunk chunk = item->chunk;
        try {
          pipe.Add(std::move(*item));  // allocates the chunk's outputs
        } catch (...) {
          count_busy();
          done_.Push(ResultItem{chunk, {}, {}, std::current_exception(), {}, {}});
          return;
        }
      }
    }
    if (pipe.CanStart() && pipe.HasRoom()) {
      if (auto failure = pipe.StartNext()) {
        count_busy();
        done_.Push(std::move(*failure));
        return;
      }
      continue;
    }
    if (pipe.Idle()) continue;
    if (auto r = pipe.FinishOldest()) {
      count_busy();
      const bool failed = r->error != nullptr;
      if (!done_.Push(std::move(*r)) || failed) return;
      busy_since = std::chrono::steady_clock::now();
    }
  }
}

}  // namespace mpsbatch
