#include "run/rank_loop.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>

#include "common/error.h"
#include "common/log.h"
#include "common/stop_signal.h"
#include "hdf5/handle.h"
#include "run/chunk_reader.h"
#include "run/compute_worker.h"
#include "run/progress.h"

namespace mpsbatch {

namespace {

constexpr int kTagInput = 101;   // rank 0 -> r, scatter mode: a chunk's input rows
constexpr int kTagResult = 102;  // r -> rank 0: a chunk's outputs
constexpr int kTagAssign = 103;  // rank 0 -> r, shared mode: a chunk id to read

// Wire format of every message kind: the chunk id (-1: no more chunks), then
// each array's rows back to back in plan order; a result under on_error:
// skip ends with the failed flags and its failed rows' messages (`tail`).
Bytes Encode(int64_t chunk_id, const std::vector<HostArray>& arrays, const std::string& tail = "") {
  size_t size = sizeof(int64_t) + tail.size();
  for (const auto& a : arrays) size += a.bytes.size();
  Bytes msg(size);
  std::memcpy(msg.data(), &chunk_id, sizeof chunk_id);
  size_t at = sizeof chunk_id;
  for (const auto& a : arrays) {
    std::memcpy(msg.data() + at, a.bytes.data(), a.bytes.size());
    at += a.bytes.size();
  }
  std::memcpy(msg.data() + at, tail.data(), tail.size());
  return msg;
}

int64_t ChunkIdOf(const Bytes& msg) {
  if (msg.size() < sizeof(int64_t)) throw CommError("received a message too short to name its chunk");
  int64_t id;
  std::memcpy(&id, msg.data(), sizeof id);
  return id;
}

// How one array's rows look on the wire.
struct RowLayout {
  DType dtype;
  Shape row_shape;
};

std::vector<RowLayout> InputLayouts(const JobPlan& plan) {
  std::vector<RowLayout> out;
  for (const auto& in : plan.inputs) out.push_back({in.dtype, in.row_shape()});
  return out;
}

std::vector<RowLayout> OutputLayouts(const JobPlan& plan, bool skip_failed_rows) {
  std::vector<RowLayout> out;
  for (const auto& o : StoredOutputs(plan.outputs, skip_failed_rows ? OnError::kSkip : OnError::kFail))
    out.push_back({o.dtype, o.row_shape});
  return out;
}

// Splits a message back into arrays of `rows` rows; with `failed_rows`, the
// messages after them.
std::vector<HostArray> Decode(const Bytes& msg, int64_t rows, const std::vector<RowLayout>& layouts,
                              std::vector<FailedRow>* failed_rows = nullptr) {
  std::vector<HostArray> arrays;
  size_t at = sizeof(int64_t);
  for (const auto& l : layouts) {
    Shape shape{rows};
    shape.insert(shape.end(), l.row_shape.begin(), l.row_shape.end());
    arrays.emplace_back(l.dtype, shape);
    auto& a = arrays.back();
    if (at + a.bytes.size() > msg.size()) throw CommError("received a chunk message shorter than its plan");
    std::memcpy(a.bytes.data(), msg.data() + at, a.bytes.size());
    at += a.bytes.size();
  }
  if (failed_rows) {
    *failed_rows = DecodeFailedRows(msg.data() + at, msg.size() - at);
  } else if (at != msg.size()) {
    throw CommError("received a chunk message longer than its plan");
  }
  return arrays;
}

// Records a result delivered (sent or written) since `since`.
void RecordDelivered(RankTimeline* timeline, const ResultItem& r, TimelineClock::time_point since) {
  if (!timeline) return;
  ChunkRecord record{r.chunk.id, r.chunk.rows(), r.timing};
  record.timing.delivered = TimelineClock::now();
  record.timing.deliver_seconds = SecondsBetween(since, record.timing.delivered);
  timeline->chunks.push_back(record);
}

ResultItem Checked(ResultItem r) {
  if (r.error) std::rethrow_exception(r.error);
  return r;
}

// Ranks other than 0: take the chunks rank 0 hands out (an id to read in
// shared mode, the rows themselves in scatter mode) until it sends the end
// marker, and send each result back without waiting for rank 0 to take it
// (rank 0 hands out no more than `depth` chunks, so at most as many sends wait).
RankStats RunWorker(const RankLoopContext& ctx, ComputeWorker& worker, ChunkReader& reader) {
  const int tag = ctx.input ? kTagAssign : kTagInput;
  RankStats stats;
  int64_t outstanding = 0;
  bool ended = false;
  auto send_result = [&](ResultItem r) {
    const auto sending = TimelineClock::now();
    ctx.comm.SendAsync(
        0, kTagResult,
        Encode(r.chunk.id, r.outputs, ctx.compute.skip_failed_rows ? EncodeFailedRows(r.failed_rows) : ""));
    RecordDelivered(ctx.timeline, r, sending);
    stats.nonfinite.Add(r.nonfinite);
    stats.rows += r.chunk.rows();
    ++stats.chunks;
    --outstanding;
  };
  while (!ended || outstanding > 0) {
    bool progress = false;
    reader.ThrowIfFailed();
    ctx.comm.ProgressSends();
    while (auto r = worker.NextFor(std::chrono::microseconds(0))) {
      send_result(Checked(std::move(*r)));
      progress = true;
    }
    if (!ended) {
      if (auto m = ctx.comm.TryReceive(tag)) {
        const auto given = TimelineClock::now();
        const int64_t id = ChunkIdOf(m->data);
        if (m->source != 0 || id >= ctx.chunks.num_chunks())
          throw CommError("rank " + std::to_string(m->source) + " handed out chunk " + std::to_string(id) +
                          "; only rank 0 hands out chunks, and there are " + std::to_string(ctx.chunks.num_chunks()));
        if (id < 0) {
          ended = true;
        } else {
          reader.ReadForSelf(ctx.chunks.chunk(id), given, ctx.input ? Bytes{} : std::move(m->data));
          ++outstanding;
        }
        progress = true;
      }
    }
    // Idle: sleep on our own results briefly instead of spinning on MPI.
    if (!progress)
      if (auto r = worker.NextFor(std::chrono::microseconds(200))) send_result(Checked(std::move(*r)));
  }
  ctx.comm.WaitSends();
  return stats;
}

// Rank 0: hands out chunks (ChunkDispenser) so that every rank, itself
// included, has up to `depth` in flight; computes its own; receives every
// result and writes it, checking that it came from the rank that was given the
// chunk and that no chunk is written twice. Its reader reads every chunk it
// hands to itself and, in scatter mode, to the others.
class Gatherer {
 public:
  Gatherer(const RankLoopContext& ctx, ComputeWorker& worker, ChunkReader& reader)
      : ctx_(ctx),
        worker_(worker),
        reader_(reader),
        dispenser_(ctx.chunks, ctx.schedule == Schedule::kDynamic, ctx.done, ctx.computes),
        holder_(static_cast<size_t>(ctx.chunks.num_chunks()), -1),
        in_flight_(static_cast<size_t>(ctx.comm.size()), 0),
        told_end_(static_cast<size_t>(ctx.comm.size()), false),
        reading_for_(static_cast<size_t>(ctx.comm.size()), 0),
        layouts_(OutputLayouts(ctx.plan, ctx.compute.skip_failed_rows)),
        failed_(ctx.compute.skip_failed_rows, ctx.plan.rows, ctx.max_failed_rows),
        watch_(ctx.comm.size(), ctx.stall_timeout),
        progress_(ctx.plan.rows, ctx.chunks.num_chunks(), RowsIn(ctx.chunks, ctx.done),
                  std::count(ctx.done.begin(), ctx.done.end(), true), ctx.progress_interval, Progress::Clock::now(),
                  ctx.live_progress) {
    for (size_t id = 0; id < ctx.done.size() && id < holder_.size(); ++id) {
      if (!ctx.done[id]) continue;
      holder_[id] = kWritten;
      ++written_;
      if (ctx.compute.skip_failed_rows) CountRecordedFailures(ctx.chunks.chunk(static_cast<int64_t>(id)));
    }
  }

  RankStats Run() {
    while (written_ < ctx_.chunks.num_chunks()) {
      bool progress = false;
      reader_.ThrowIfFailed();
      while (auto m = reader_.NextMessage()) {
        ctx_.comm.SendAsync(m->rank, kTagInput, std::move(m->data));
        --reading_for_[static_cast<size_t>(m->rank)];
        progress = true;
      }
      ctx_.comm.ProgressSends();
      while (auto m = ctx_.comm.TryReceive(kTagResult)) {
        const int64_t id = ChunkIdOf(m->data);
        if (id < 0 || id >= ctx_.chunks.num_chunks() || holder_[static_cast<size_t>(id)] != m->source)
          throw CommError("rank " + std::to_string(m->source) + " sent a result for chunk " + std::to_string(id) +
                          ", which it was not given");
        const Chunk c = ctx_.chunks.chunk(id);
        const auto writing = TimelineClock::now();
        std::vector<FailedRow> failed_rows;
        const auto outputs =
            Decode(m->data, c.rows(), layouts_, ctx_.compute.skip_failed_rows ? &failed_rows : nullptr);
        Finish(m->source, c, outputs, failed_rows);
        if (ctx_.timeline) ctx_.timeline->write_for_others_seconds += SecondsBetween(writing, TimelineClock::now());
        progress = true;
      }
      while (auto r = worker_.NextFor(std::chrono::microseconds(0))) {
        OwnResult(std::move(*r));
        progress = true;
      }
      progress |= Feed();
      if (!progress) {
        // Idle: sleep on our own results briefly instead of spinning on MPI.
        if (auto r = worker_.NextFor(std::chrono::microseconds(200))) OwnResult(std::move(*r));
      }
      ThrowIfStopSignalled();
      const auto now = StallWatch::Clock::now();
      watch_.Check(now);
      progress_.Tick(now, BusyRanks(), ctx_.comm.size());
    }
    for (int r = 1; r < ctx_.comm.size(); ++r) FeedRemote(r, ctx_.depth);  // the end markers not yet sent
    ctx_.comm.WaitSends();
    stats_.failed = failed_.rows();
    return stats_;
  }

 private:
  // The rows of the chunks marked in `done`.
  static int64_t RowsIn(const ChunkPlan& chunks, const std::vector<bool>& done) {
    int64_t rows = 0;
    for (size_t id = 0; id < done.size(); ++id)
      if (done[id]) rows += chunks.chunk(static_cast<int64_t>(id)).rows();
    return rows;
  }

  // The failed rows an earlier run recorded in chunk `c` (a resume).
  void CountRecordedFailures(const Chunk& c) {
    HostArray flags(DType::kUInt8, {c.rows()});
    ctx_.writer->ReadRows(layouts_.size() - 1, c.begin, c.rows(), flags.bytes.data());
    failed_.AddRecorded(c.begin, flags);
  }

  int BusyRanks() const {
    int busy = 0;
    for (int64_t n : in_flight_) busy += n > 0 ? 1 : 0;
    return busy;
  }

  // True while rank `r` holds fewer than `level` (<= depth) chunks.
  bool HasRoom(int r, size_t level) const { return in_flight_[static_cast<size_t>(r)] < static_cast<int64_t>(level); }

  // Tops every rank up to depth one chunk a rank at a time: each rank is
  // given its first chunk before any is given a second.
  bool Feed() {
    bool fed = false;
    for (size_t level = 1; level <= ctx_.depth; ++level) {
      for (int r = 1; r < ctx_.comm.size(); ++r) fed |= FeedRemote(r, level);
      fed |= FeedOwn(level);
    }
    return fed;
  }

  std::optional<Chunk> Take(int r) {
    auto id = dispenser_.Next(r);
    if (!id) return std::nullopt;
    holder_[static_cast<size_t>(*id)] = r;
    ++in_flight_[static_cast<size_t>(r)];
    watch_.Given(r, *id, StallWatch::Clock::now());
    return ctx_.chunks.chunk(*id);
  }

  bool FeedRemote(int r, size_t level) {
    bool sent = false;
    while (!told_end_[static_cast<size_t>(r)] && HasRoom(r, level)) {
      const auto c = Take(r);
      if (!c) {
        if (reading_for_[static_cast<size_t>(r)] > 0) break;  // the end marker goes after them
        ctx_.comm.SendAsync(r, ctx_.plan.mode == InputMode::kScatter ? kTagInput : kTagAssign, Encode(-1, {}));
        told_end_[static_cast<size_t>(r)] = true;
      } else if (ctx_.plan.mode == InputMode::kScatter) {
        reader_.ReadFor(r, *c);
        ++reading_for_[static_cast<size_t>(r)];
      } else {
        ctx_.comm.SendAsync(r, kTagAssign, Encode(c->id, {}));
      }
      sent = true;
    }
    return sent;
  }

  bool FeedOwn(size_t level) {
    if (!HasRoom(0, level)) return false;
    const auto given = TimelineClock::now();
    const auto c = Take(0);
    if (!c) return false;
    reader_.ReadForSelf(*c, given);
    return true;
  }

  void OwnResult(ResultItem r) {
    r = Checked(std::move(r));
    const auto writing = TimelineClock::now();
    Finish(0, r.chunk, r.outputs, r.failed_rows);
    RecordDelivered(ctx_.timeline, r, writing);
    stats_.nonfinite.Add(r.nonfinite);
    stats_.rows += r.chunk.rows();
    ++stats_.chunks;
  }

  void Finish(int rank, const Chunk& c, const std::vector<HostArray>& outputs,
              const std::vector<FailedRow>& failed_rows) {
    auto& holder = holder_[static_cast<size_t>(c.id)];
    if (holder == kWritten) throw InternalError("chunk " + std::to_string(c.id) + " arrived twice");
    if (ctx_.compute.skip_failed_rows) failed_.Add(c.begin, outputs.back(), failed_rows);
    std::unique_lock hdf5(Hdf5Mutex());  // the reader's thread reads beside
    for (size_t o = 0; o < outputs.size(); ++o) ctx_.writer->WriteRows(o, c.begin, c.rows(), outputs[o].bytes.data());
    ctx_.writer->MarkChunkDone(c.id);
    hdf5.unlock();
    watch_.Finished(rank, c.id, StallWatch::Clock::now());
    holder = kWritten;
    --in_flight_[static_cast<size_t>(rank)];
    ++written_;
    progress_.ChunkWritten(c.rows());
    progress_.SetNote(ctx_.writer->ProgressNote());
  }

  static constexpr int kWritten = -2;

  const RankLoopContext& ctx_;
  ComputeWorker& worker_;
  ChunkReader& reader_;
  ChunkDispenser dispenser_;
  std::vector<int> holder_;  // per chunk: the rank it was given to, -1 before, kWritten after
  std::vector<int64_t> in_flight_;
  std::vector<bool> told_end_;
  std::vector<int64_t> reading_for_;  // per rank: chunks the reader reads for it, not yet sent
  int64_t written_ = 0;
  std::vector<RowLayout> layouts_;
  FailedRowTally failed_;
  StallWatch watch_;
  Progress progress_;
  RankStats stats_;
};

}  // namespace

RankStats RunRankLoop(const RankLoopContext& ctx) {
  auto worker = std::make_unique<ComputeWorker>(ctx.engine, ctx.plan, ctx.compute, ctx.depth);
  // Declared after the worker, which it submits to: joined first.
  auto reader = std::make_unique<ChunkReader>(
      ctx.input, ctx.plan, *worker, ctx.depth * static_cast<size_t>(ctx.comm.size()),
      [](const Chunk& c, const std::vector<HostArray>& rows) { return Encode(c.id, rows); },
      [layouts = InputLayouts(ctx.plan)](const Chunk& c, const Bytes& m) { return Decode(m, c.rows(), layouts); });
  RankStats stats;
  try {
    if (ctx.comm.rank() == 0) {
      MPSBATCH_ASSERT(ctx.writer && ctx.input);
      stats = Gatherer(ctx, *worker, *reader).Run();
    } else {
      stats = RunWorker(ctx, *worker, *reader);
    }
  } catch (...) {
    // The job ends now (see the header); joining a thread stuck in a read or
    // in the model would hang it. The reader is given a moment to finish the
    // read in hand, so that rank 0 saving what it wrote has HDF5 to itself.
    (void)reader->Stop(std::chrono::seconds(2));
    (void)reader.release();
    (void)worker.release();
    throw;
  }
  if (ctx.timeline) ctx.timeline->read_for_others_seconds = reader->read_for_others_seconds();
  reader.reset();
  stats.compute_seconds = worker->compute_seconds();
  return stats;
}

}  // namespace mpsbatch
