#include "plan/chunk_plan.h"

#include <algorithm>
#include <string>

#include "common/error.h"

namespace mpsbatch {

ChunkPlan::ChunkPlan(int64_t rows, int64_t chunk_rows, int ranks)
    : rows_(rows),
      chunk_rows_(chunk_rows),
      ranks_(ranks),
      num_chunks_((rows + chunk_rows - 1) / chunk_rows),
      longest_chunk_rows_(std::min(rows, chunk_rows)) {
  MPSBATCH_ASSERT(rows >= 1 && chunk_rows >= 1 && ranks >= 1);
}

ChunkPlan::ChunkPlan(const std::vector<int64_t>& file_rows, int64_t chunk_rows, int ranks)
    : rows_(0), chunk_rows_(chunk_rows), ranks_(ranks), num_chunks_(0), longest_chunk_rows_(0) {
  MPSBATCH_ASSERT(!file_rows.empty() && chunk_rows >= 1 && ranks >= 1);
  if (file_rows.size() > 1) {
    for (int64_t rows : file_rows) {
      MPSBATCH_ASSERT(rows >= 0);
      file_first_row_.push_back(rows_);
      file_first_chunk_.push_back(num_chunks_);
      rows_ += rows;
      num_chunks_ += (rows + chunk_rows - 1) / chunk_rows;
      longest_chunk_rows_ = std::max(longest_chunk_rows_, std::min(rows, chunk_rows));
    }
    file_first_row_.push_back(rows_);
    file_first_chunk_.push_back(num_chunks_);
  } else {
    rows_ = file_rows.front();
    num_chunks_ = (rows_ + chunk_rows - 1) / chunk_rows;
    longest_chunk_rows_ = std::min(rows_, chunk_rows);
  }
  MPSBATCH_ASSERT(rows_ >= 1);
}

Chunk ChunkPlan::chunk(int64_t id) const {
  MPSBATCH_ASSERT(id >= 0 && id < num_chunks_);
  if (file_first_chunk_.empty()) return Chunk{id, id * chunk_rows_, std::min(rows_, (id + 1) * chunk_rows_)};
  // The last file whose first chunk is at or before `id` (files without rows
  // share their first chunk id with the next file and are passed over).
  const auto it = std::upper_bound(file_first_chunk_.begin(), file_first_chunk_.end(), id) - 1;
  const auto file = static_cast<size_t>(it - file_first_chunk_.begin());
  const int64_t begin = file_first_row_[file] + (id - *it) * chunk_rows_;
  return Chunk{id, begin, std::min(file_first_row_[file + 1], begin + chunk_rows_), static_cast<int>(file)};
}

std::pair<int64_t, int64_t> ChunkPlan::RangeOf(int rank) const {
  MPSBATCH_ASSERT(rank >= 0 && rank < ranks_);
  auto first = [&](int r) { return num_chunks_ * r / ranks_; };
  return {first(rank), first(rank + 1)};
}

ChunkDispenser::ChunkDispenser(const ChunkPlan& plan, bool dynamic, std::vector<bool> skip, std::vector<bool> computes)
    : dynamic_(dynamic), skip_(std::move(skip)), num_chunks_(plan.num_chunks()), computes_(std::move(computes)) {
  MPSBATCH_ASSERT(computes_.empty() || computes_.size() == static_cast<size_t>(plan.ranks()));
  if (computes_.empty()) {
    for (int r = 0; r < plan.ranks(); ++r) {
      auto [first, last] = plan.RangeOf(r);
      next_.push_back(first);
      last_.push_back(last);
    }
    return;
  }
  // The runs of a plan with as many ranks as compute, in rank order.
  const auto working = static_cast<int64_t>(std::count(computes_.begin(), computes_.end(), true));
  int64_t i = 0;
  for (bool computes : computes_) {
    const int64_t first = working == 0 ? 0 : num_chunks_ * i / working;
    if (computes) ++i;
    next_.push_back(first);
    last_.push_back(computes ? num_chunks_ * i / working : first);
  }
}

std::optional<int64_t> ChunkDispenser::Next(int rank) {
  if (!computes_.empty() && !computes_.at(static_cast<size_t>(rank))) return std::nullopt;
  int64_t& next = dynamic_ ? shared_next_ : next_.at(static_cast<size_t>(rank));
  const int64_t last = dynamic_ ? num_chunks_ : last_.at(static_cast<size_t>(rank));
  while (next < last && Skipped(next)) ++next;
  if (next == last) return std::nullopt;
  return next++;
}

int IdleRanks(int64_t chunks, int ranks) {
  return chunks >= ranks ? 0 : ranks - static_cast<int>(std::max<int64_t>(chunks, 0));
}

size_t ChunksInFlight(int64_t chunk_rows, int64_t batch_size, size_t chunk_bytes) {
  constexpr int64_t kBatches = 4;
  constexpr size_t kExtraBytes = size_t{256} << 20;
  const int64_t batches_per_chunk = std::max<int64_t>(1, chunk_rows / std::max<int64_t>(1, batch_size));
  const auto wanted = static_cast<size_t>(std::max<int64_t>(2, (kBatches + batches_per_chunk - 1) / batches_per_chunk));
  const size_t affordable = std::max<size_t>(2, kExtraBytes / std::max<size_t>(1, chunk_bytes));
  return std::min(wanted, affordable);
}

size_t ChunksInFlight(const ChunkPlan& plan, int64_t batch_size, size_t row_bytes) {
  return ChunksInFlight(plan.rows() / plan.num_chunks(), batch_size,
                        static_cast<size_t>(plan.longest_chunk_rows()) * row_bytes);
}

int64_t ChooseChunkRows(int64_t rows, int64_t batch_size, int ranks, size_t row_bytes, int64_t requested,
                        int chunks_per_rank) {
  constexpr int64_t kTargetBytes = int64_t{64} << 20;
  constexpr int64_t kMaxBytes = int64_t{1} << 30;  // one MPI message, with room below INT_MAX
  const int64_t bytes = std::max<int64_t>(1, static_cast<int64_t>(row_bytes));
  int64_t chunk = requested;
  if (chunk <= 0) {
    const int64_t per_rank = (rows + ranks - 1) / ranks;
    const int64_t per_chunk = std::max(2, chunks_per_rank);
    chunk = (per_rank + per_chunk - 1) / per_chunk;
    chunk = (chunk + batch_size - 1) / batch_size * batch_size;
    const int64_t by_bytes = std::max<int64_t>(1, kTargetBytes / bytes) / batch_size * batch_size;
    chunk = std::min(chunk, std::max(batch_size, by_bytes));
  }
  chunk = std::clamp<int64_t>(chunk, 1, rows);
  if (chunk * bytes > kMaxBytes)
    throw ConfigError("a chunk of " + std::to_string(chunk) + " rows would be " + std::to_string(chunk * bytes >> 20) +
                      " MiB (input and output); lower chunk_size or batch_size to stay under 1 GiB");
  return chunk;
}

}  // namespace mpsbatch
