#include "plan/chunk_plan.h"

#include <algorithm>
#include <string>

#include "common/error.h"

namespace mpsbatch {

ChunkPlan::ChunkPlan(int64_t rows, int64_t chunk_rows, int ranks)
    : rows_(rows), chunk_rows_(chunk_rows), ranks_(ranks), num_chunks_((rows + chunk_rows - 1) / chunk_rows) {
  MPSBATCH_ASSERT(rows >= 1 && chunk_rows >= 1 && ranks >= 1);
}

Chunk ChunkPlan::chunk(int64_t id) const {
  MPSBATCH_ASSERT(id >= 0 && id < num_chunks_);
  return Chunk{id, id * chunk_rows_, std::min(rows_, (id + 1) * chunk_rows_)};
}

std::pair<int64_t, int64_t> ChunkPlan::RangeOf(int rank) const {
  MPSBATCH_ASSERT(rank >= 0 && rank < ranks_);
  auto first = [&](int r) { return num_chunks_ * r / ranks_; };
  return {first(rank), first(rank + 1)};
}

int ChunkPlan::OwnerOf(int64_t id) const {
  MPSBATCH_ASSERT(id >= 0 && id < num_chunks_);
  // first(r) = floor(C*r/N) is monotone; the owner is the last r with first(r) <= id.
  int r = static_cast<int>(((id + 1) * ranks_ - 1) / num_chunks_);
  while (r > 0 && RangeOf(r).first > id) --r;
  while (r + 1 < ranks_ && RangeOf(r + 1).first <= id) ++r;
  return r;
}

int64_t ChooseChunkRows(int64_t rows, int64_t batch_size, int ranks, size_t row_bytes, int64_t requested) {
  constexpr int64_t kTargetBytes = int64_t{64} << 20;
  constexpr int64_t kMaxBytes = int64_t{1} << 30;  // one MPI message, with room below INT_MAX
  const int64_t bytes = std::max<int64_t>(1, static_cast<int64_t>(row_bytes));
  int64_t chunk = requested;
  if (chunk <= 0) {
    const int64_t per_rank = (rows + ranks - 1) / ranks;
    chunk = (per_rank + 3) / 4;
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
