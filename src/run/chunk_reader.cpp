#include "run/chunk_reader.h"

#include "common/error.h"
#include "common/fault.h"
#include "hdf5/handle.h"

namespace mpsbatch {

ChunkReader::ChunkReader(InputSet* input, const JobPlan& plan, ComputeWorker& worker, size_t capacity, Encode encode,
                         Decode decode)
    : input_(input),
      plan_(plan),
      worker_(worker),
      encode_(std::move(encode)),
      decode_(std::move(decode)),
      requests_(capacity),
      messages_(capacity),
      thread_([this] { Loop(); }) {
  // Set before the first request reaches the thread (through the queue).
  if (input_) input_->AskNextRead([this](const std::atomic<bool>& read) { return NextRow(read); });
}

ChunkReader::~ChunkReader() {
  requests_.Close();
  thread_.join();
  if (input_) input_->AskNextRead({});  // it asked this reader
}

void ChunkReader::ReadForSelf(const Chunk& c, TimelineClock::time_point given, ByteBuffer received) {
  Ask({c, kSelf, std::move(received), given});
}

void ChunkReader::ReadFor(int rank, const Chunk& c) { Ask({c, rank, {}, TimelineClock::now()}); }

void ChunkReader::Ask(Request r) {
  if (requests_.Push(std::move(r))) return;
  ThrowIfFailed();  // the thread closes the queue when it fails
  throw InternalError("chunk reader is closed");
}

void ChunkReader::ThrowIfFailed() const {
  if (failed_.load(std::memory_order_acquire)) std::rethrow_exception(error_);
}

bool ChunkReader::Stop(std::chrono::milliseconds grace) {
  stopped_ = true;
  requests_.Close();
  // Waits only while a read is in hand: a thread waiting to hand rows to a
  // compute thread stuck in the model touches no HDF5, and waiting for it
  // would only delay the job's end.
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (ended_future_.wait_for(std::chrono::milliseconds(1)) != std::future_status::ready) {
    if (!reading_ || std::chrono::steady_clock::now() > deadline) return !reading_;
  }
  return true;
}

void ChunkReader::Loop() noexcept {
  try {
    FaultPoint("read-thread");
    SilenceHdf5Errors();
    while (auto r = requests_.Pop()) {
      // Set before stopped_ is read, as Stop sets stopped_ before it reads
      // reading_: one of the two sees the other.
      reading_ = true;
      if (stopped_) break;
      Serve(std::move(*r));
    }
    reading_ = false;
  } catch (...) {
    reading_ = false;
    error_ = std::current_exception();
    failed_.store(true, std::memory_order_release);
    requests_.Close();
  }
  ended_.set_value();
}

std::optional<int64_t> ChunkReader::NextRow(const std::atomic<bool>& read) {
  // Bounded: a slow read (a slow disk, a stuck mount) keeps no helper polling.
  constexpr auto kLongest = std::chrono::milliseconds(5);
  constexpr auto kStep = std::chrono::microseconds(50);
  const auto deadline = std::chrono::steady_clock::now() + kLongest;
  std::optional<int64_t> row;
  for (;;) {
    const bool last = read || stopped_ || std::chrono::steady_clock::now() >= deadline;
    const auto wait = last ? std::chrono::microseconds(0) : std::chrono::microseconds(kStep);
    if (requests_.WithFrontFor(wait, [&](const Request& next) { row = next.chunk.begin; }) || last) return row;
  }
}

void ChunkReader::Serve(Request r) {
  const auto reading = TimelineClock::now();
  std::vector<HostArray> rows;
  if (!input_) {
    rows = decode_(r.chunk, r.received);
    r.received = {};  // its memory back to the buffer cache before the worker needs more
  } else {
    for (const auto& info : plan_.inputs) rows.push_back(input_->ReadRows(info, r.chunk.begin, r.chunk.end));
  }
  reading_ = false;
  if (r.rank == kSelf) {
    WorkItem item{r.chunk, std::move(rows), {}};
    item.timing.given = r.given;
    item.timing.submitted = TimelineClock::now();
    item.timing.read_seconds = SecondsBetween(r.given, item.timing.submitted);
    item.timing.reading_seconds = SecondsBetween(reading, item.timing.submitted);
    worker_.Submit(std::move(item));
  } else {
    messages_.Push({r.rank, encode_(r.chunk, rows)});
    read_for_others_ns_ += std::chrono::duration_cast<std::chrono::nanoseconds>(TimelineClock::now() - r.given).count();
  }
}

}  // namespace mpsbatch
