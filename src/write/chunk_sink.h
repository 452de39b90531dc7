// Where rank 0's loop (run/rank_loop.h) puts each finished chunk: one output
// file (ResultWriter) or one file per input file (run/output_set.h). Rows and
// chunk ids are the job's, numbered across its input files. One thread calls
// it, holding Hdf5Mutex().
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace mpsbatch {

class ChunkSink {
 public:
  virtual ~ChunkSink() = default;
  // Writes `count` rows of output `index` starting at row `begin`. Throws
  // OutputError.
  virtual void WriteRows(size_t index, int64_t begin, int64_t count, const std::byte* data) = 0;
  // Reads back `count` rows of output `index` from row `begin` (rows an
  // earlier run wrote, for a resume). Throws OutputError.
  virtual void ReadRows(size_t index, int64_t begin, int64_t count, std::byte* data) = 0;
  // Chunk `id`'s rows are all written: they are made durable and recorded.
  // Throws OutputError.
  virtual void MarkChunkDone(int64_t id) = 0;
  // What the progress line adds about the files ("" for one file).
  virtual std::string ProgressNote() const { return ""; }
};

}  // namespace mpsbatch
