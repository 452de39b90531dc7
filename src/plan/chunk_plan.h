// Chunk bookkeeping: the rows [0, rows) cut into chunks, the unit that moves
// between ranks and that the output records as done. A chunk is a contiguous
// row range; chunk ids follow row order. Chunk boundaries depend only on the
// rows (per input file) and chunk_rows, never on the rank count, so any
// schedule feeds the model the same batches. Rows of several input files are
// numbered across them in order, and a chunk never spans two files: each
// file's rows are cut on their own, its last chunk possibly short.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace mpsbatch {

struct Chunk {
  int64_t id = 0;
  int64_t begin = 0;  // first row
  int64_t end = 0;    // one past the last row
  int file = 0;       // the input file holding its rows (index into the plan's files)
  int64_t rows() const { return end - begin; }
};

class ChunkPlan {
 public:
  // rows >= 1, chunk_rows >= 1, ranks >= 1.
  ChunkPlan(int64_t rows, int64_t chunk_rows, int ranks);
  // Rows from several files, `file_rows` each in order (0 allowed: such a
  // file has no chunk), at least one row in all.
  ChunkPlan(const std::vector<int64_t>& file_rows, int64_t chunk_rows, int ranks);

  int64_t rows() const { return rows_; }
  int64_t chunk_rows() const { return chunk_rows_; }
  int ranks() const { return ranks_; }
  int64_t num_chunks() const { return num_chunks_; }
  // The longest chunk's rows: chunk_rows, or fewer when every file is shorter.
  int64_t longest_chunk_rows() const { return longest_chunk_rows_; }

  Chunk chunk(int64_t id) const;
  // The chunk ids [first, last) rank `rank` owns; empty when there are fewer
  // chunks than ranks. Runs differ in length by at most one chunk.
  std::pair<int64_t, int64_t> RangeOf(int rank) const;

 private:
  int64_t rows_, chunk_rows_;
  int ranks_;
  int64_t num_chunks_;
  int64_t longest_chunk_rows_;
  // Several files: per file its first row and first chunk id, and one entry
  // past the last. Empty for one file. chunk() looks up a chunk's file here
  // (a binary search per chunk, never per row).
  std::vector<int64_t> file_first_row_, file_first_chunk_;
};

// Hands chunk ids to ranks. Static: each rank takes its own contiguous run
// (ChunkPlan::RangeOf), in order. Dynamic: every rank takes the lowest id no
// rank has taken yet, so a rank that asks more often (a faster one) takes more.
// Chunks marked in `skip` (done by an earlier run) are never handed out.
// A rank marked false in `computes` (empty: every rank computes) gets none;
// static runs are then cut over the ranks that compute.
// Not thread-safe; rank 0 owns the one instance.
class ChunkDispenser {
 public:
  ChunkDispenser(const ChunkPlan& plan, bool dynamic, std::vector<bool> skip = {}, std::vector<bool> computes = {});

  // The next chunk id for `rank`, or nullopt when it gets no more.
  std::optional<int64_t> Next(int rank);

 private:
  bool Skipped(int64_t id) const { return static_cast<size_t>(id) < skip_.size() && skip_[static_cast<size_t>(id)]; }

  bool dynamic_;
  std::vector<bool> skip_;
  int64_t shared_next_ = 0, num_chunks_;
  std::vector<int64_t> next_, last_;  // static: per rank
  std::vector<bool> computes_;        // per rank; empty: all
};

// Rows per chunk. `requested` > 0 is the job's chunk_size. Otherwise about
// `chunks_per_rank` chunks per rank (at least two, so reading, computing and
// sending overlap; more let a dynamic schedule even out uneven ranks), a
// multiple of batch_size, and at most ~64 MiB of input and output per chunk.
// Then every rank has a chunk whenever rows >= ranks * batch_size; with fewer
// rows some ranks idle, since a chunk holds whole batches (so that every rank
// count feeds the model the same batches).
// `row_bytes` is one row's input plus output bytes. Throws ConfigError if a
// chunk would exceed what one MPI message carries.
int64_t ChooseChunkRows(int64_t rows, int64_t batch_size, int ranks, size_t row_bytes, int64_t requested,
                        int chunks_per_rank = 4);

// The ranks left without a chunk when `chunks` chunks are scored by `ranks`
// ranks (0 when there are at least as many chunks as ranks).
int IdleRanks(int64_t chunks, int ranks);

// Chunks a rank may hold at once (read or received, computing, results not
// yet written): 2, or more (up to 4) when chunks hold fewer than 2 batches,
// so that 4 batches are: a rank then reads its next batches while the device
// runs two. (With chunks of one batch each, 2 would leave the device waiting
// between chunks.) The extra chunks are added only while all of them,
// `chunk_bytes` (input and output) each, stay within 256 MiB.
size_t ChunksInFlight(int64_t chunk_rows, int64_t batch_size, size_t chunk_bytes);
// The same for the chunks of `plan`, `row_bytes` (input and output) a row:
// batches counted in its chunks' mean length, bytes in its longest chunk. Many
// input files shorter than chunk_rows make short chunks, which need more of
// them in flight than the planned chunk_rows says.
size_t ChunksInFlight(const ChunkPlan& plan, int64_t batch_size, size_t row_bytes);

}  // namespace mpsbatch
