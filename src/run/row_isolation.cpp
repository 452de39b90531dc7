#include "run/row_isolation.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <utility>

#include "common/error.h"
#include "run/bad_rows.h"

namespace mpsbatch {

namespace {

std::vector<ArrayView> Slice(const std::vector<ArrayView>& inputs, int64_t begin, int64_t end) {
  std::vector<ArrayView> out;
  for (const auto& in : inputs) {
    const size_t row_bytes =
        static_cast<size_t>(NumElements(in.shape) / std::max<int64_t>(1, in.shape[0])) * DTypeSize(in.dtype);
    ArrayView v = in;
    v.shape[0] = end - begin;
    v.data = in.data + static_cast<size_t>(begin) * row_bytes;
    out.push_back(v);
  }
  return out;
}

// Runs rows [begin, end); the error if they fail as a row might.
std::optional<std::string> TryRun(Engine& engine, const std::vector<ArrayView>& inputs, int64_t begin, int64_t end) {
  try {
    engine.Run(Slice(inputs, begin, end));
    return std::nullopt;
  } catch (const ModelError& e) {
    engine.Abandon();
    if (IsDeviceFailure(e.what())) throw;
    return std::string(e.what());
  } catch (...) {
    engine.Abandon();
    throw;
  }
}

// Rows [begin, end), which failed together, split until single rows.
void Split(Engine& engine, const std::vector<ArrayView>& inputs, int64_t begin, int64_t end,
           std::vector<std::string>& errors) {
  const int64_t mid = begin + (end - begin) / 2;
  for (auto [b, e] : {std::pair{begin, mid}, std::pair{mid, end}}) {
    const auto error = TryRun(engine, inputs, b, e);
    if (!error) continue;
    if (e - b == 1) {
      errors[static_cast<size_t>(b)] = *error;
    } else {
      Split(engine, inputs, b, e, errors);
    }
  }
}

}  // namespace

bool MayBeRowFailure(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const ModelError& e) {
    return !IsDeviceFailure(e.what());
  } catch (...) {
    return false;
  }
}

IsolatedBatch IsolateRows(Engine& engine, const std::vector<ArrayView>& inputs) {
  const int64_t rows = inputs.front().shape.at(0);
  IsolatedBatch out;
  out.errors.assign(static_cast<size_t>(rows), "");
  if (rows == 1) {
    out.errors[0] = TryRun(engine, inputs, 0, 1).value_or("");
  } else {
    Split(engine, inputs, 0, rows, out.errors);
  }
  int64_t good = -1, failed = 0;
  for (int64_t r = rows - 1; r >= 0; --r) {
    if (out.errors[static_cast<size_t>(r)].empty()) {
      good = r;
    } else {
      ++failed;
    }
  }
  if (failed == 0)
    throw ModelError(
        "the batch failed, but each of its rows runs alone; the failure depends on the batch, not on "
        "rows, and on_error: skip cannot set rows aside for it");
  if (good < 0) return out;
  // The batch again, failed rows replaced by the first good row.
  std::vector<HostArray> patched;
  std::vector<ArrayView> views;
  for (const auto& in : inputs) {
    HostArray a(in.dtype, in.shape);
    std::memcpy(a.bytes.data(), in.data, a.bytes.size());
    const size_t row_bytes = a.row_bytes();
    for (int64_t r = 0; r < rows; ++r)
      if (!out.errors[static_cast<size_t>(r)].empty())
        std::memcpy(a.bytes.data() + static_cast<size_t>(r) * row_bytes,
                    a.bytes.data() + static_cast<size_t>(good) * row_bytes, row_bytes);
    patched.push_back(std::move(a));
  }
  for (const auto& a : patched) views.push_back(RowSlice(a, 0, rows));
  try {
    out.outputs = engine.Run(views);
  } catch (const ModelError& e) {
    engine.Abandon();
    if (IsDeviceFailure(e.what())) throw;
    throw ModelError(std::to_string(failed) +
                     " of the batch's rows fail alone, but the batch still fails with them "
                     "replaced by a good row (" +
                     e.what() +
                     "); the failure depends on the batch, not on rows, and "
                     "on_error: skip cannot set rows aside for it");
  }
  return out;
}

}  // namespace mpsbatch
