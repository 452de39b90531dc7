// A rank's reading thread: reads the rows of the chunks the rank loop hands it,
// so that the loop's main thread keeps handing out, receiving, sending and
// writing while a chunk is read. A chunk for this rank goes on to the compute
// worker; one that rank 0 reads for another rank (scatter mode) comes back as
// the message to send. A scatter receiver reads nothing: the thread decodes
// the messages it received (a copy as large as a read) for the worker instead.
// Requests are served in order. Only the main thread calls its methods.
#pragma once

#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <future>
#include <optional>
#include <thread>

#include "common/bounded_queue.h"
#include "common/buffer.h"
#include "plan/chunk_plan.h"
#include "plan/job_plan.h"
#include "read/input_set.h"
#include "run/compute_worker.h"
#include "run/timeline.h"

namespace mpsbatch {

// A chunk's rows read for `rank`, as the message that carries them there.
struct ChunkMessage {
  int rank = 0;
  ByteBuffer data;
};

class ChunkReader {
 public:
  // A chunk's rows (one array per plan input) as the message that carries
  // them, and back (the rank loop's wire format).
  using Encode = std::function<ByteBuffer(const Chunk&, const std::vector<HostArray>&)>;
  using Decode = std::function<std::vector<HostArray>(const Chunk&, const ByteBuffer&)>;

  // `input`: where this rank reads; null for a scatter receiver. `capacity`:
  // requests and messages the loop may leave waiting (its chunks in flight),
  // so that neither side blocks on the other.
  ChunkReader(InputSet* input, const JobPlan& plan, ComputeWorker& worker, size_t capacity, Encode encode,
              Decode decode);
  // Joins the thread: call it idle. After a failure, Stop() and release it
  // instead (a read may hang, or wait on a compute thread stuck in the model).
  ~ChunkReader();
  ChunkReader(const ChunkReader&) = delete;
  ChunkReader& operator=(const ChunkReader&) = delete;

  // Reads chunk `c` (a scatter receiver: decodes `received`) and submits it
  // to the compute worker, its timing started at `given` (when the rank got
  // it): its read time counts from there.
  void ReadForSelf(const Chunk& c, TimelineClock::time_point given, ByteBuffer received = {});
  // Reads chunk `c` for `rank`; its message comes out of NextMessage.
  void ReadFor(int rank, const Chunk& c);
  // The oldest message read for another rank, if one is ready.
  std::optional<ChunkMessage> NextMessage() { return messages_.TryPop(); }

  // Seconds the thread has spent reading chunks for other ranks.
  double read_for_others_seconds() const { return read_for_others_ns_.load() * 1e-9; }

  // Rethrows what the thread threw (a read's InputError as InputFile threw
  // it), if it did.
  void ThrowIfFailed() const;
  // Takes no more requests and waits up to `grace` for a read in hand, so
  // that the caller may use HDF5 alone afterwards if it returns true.
  bool Stop(std::chrono::milliseconds grace);

 private:
  struct Request {
    Chunk chunk;
    int rank;  // kSelf: submit to the worker
    ByteBuffer received;
    TimelineClock::time_point given;
  };
  static constexpr int kSelf = -1;

  void Ask(Request r);
  // The thread's body: serves requests until closed, keeping what it throws
  // for ThrowIfFailed (never std::terminate).
  void Loop() noexcept;
  void Serve(Request r);
  // The first row of the request after the one in hand, waiting for it
  // while `read` (the rows in hand being read) is false: InputSet opens its
  // file beside the read. Called on a read helper thread.
  std::optional<int64_t> NextRow(const std::atomic<bool>& read);

  InputSet* input_;
  const JobPlan& plan_;
  ComputeWorker& worker_;
  const Encode encode_;
  const Decode decode_;
  BoundedQueue<Request> requests_;
  BoundedQueue<ChunkMessage> messages_;
  std::exception_ptr error_;  // set before failed_
  std::atomic<bool> failed_{false}, stopped_{false};
  std::atomic<int64_t> read_for_others_ns_{0};
  std::atomic<bool> reading_{false};  // inside a read (HDF5) or a decode
  std::promise<void> ended_;
  std::future<void> ended_future_ = ended_.get_future();
  std::jthread thread_;  // last: started once the rest exists, joined before it goes
};

}  // namespace mpsbatch
