#include "run/rank_loop.h"

#include <chrono>
#include <cstring>

#include "common/error.h"
#include "run/compute_worker.h"

namespace mpsbatch {

namespace {

constexpr int kTagInput = 101;
constexpr int kTagResult = 102;

// Wire format of both message kinds: the chunk id, then each array's rows
// back to back in plan order.
Bytes Encode(int64_t chunk_id, const std::vector<HostArray>& arrays) {
  size_t size = sizeof(int64_t);
  for (const auto& a : arrays) size += a.bytes.size();
  Bytes msg(size);
  std::memcpy(msg.data(), &chunk_id, sizeof chunk_id);
  size_t at = sizeof chunk_id;
  for (const auto& a : arrays) {
    std::memcpy(msg.data() + at, a.bytes.data(), a.bytes.size());
    at += a.bytes.size();
  }
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

std::vector<RowLayout> OutputLayouts(const JobPlan& plan) {
  std::vector<RowLayout> out;
  for (const auto& o : plan.outputs) out.push_back({o.dtype, o.row_shape});
  return out;
}

// Splits a message back into arrays of `rows` rows.
std::vector<HostArray> Decode(const Bytes& msg, int64_t rows, const std::vector<RowLayout>& layouts) {
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
  if (at != msg.size()) throw CommError("received a chunk message longer than its plan");
  return arrays;
}

std::vector<HostArray> ReadChunk(InputFile& input, const JobPlan& plan, const Chunk& c) {
  std::vector<HostArray> arrays;
  for (const auto& info : plan.inputs) arrays.push_back(input.ReadRows(info, c.begin, c.end));
  return arrays;
}

ResultItem Checked(ResultItem r) {
  if (r.error) std::rethrow_exception(r.error);
  return r;
}

// Ranks other than 0: compute own chunks, send each result to rank 0.
RankStats RunWorker(const RankLoopContext& ctx, ComputeWorker& worker) {
  const auto [first, last] = ctx.chunks.RangeOf(ctx.comm.rank());
  RankStats stats;
  int64_t fed = first, finished = first;
  while (finished < last) {
    if (fed < last && fed - finished < static_cast<int64_t>(ctx.depth)) {
      const Chunk c = ctx.chunks.chunk(fed);
      if (ctx.input) {
        worker.Submit({c, ReadChunk(*ctx.input, ctx.plan, c)});
      } else {
        Bytes msg = ctx.comm.Receive(0, kTagInput);
        if (ChunkIdOf(msg) != c.id)
          throw CommError("expected chunk " + std::to_string(c.id) + " from rank 0, got " +
                          std::to_string(ChunkIdOf(msg)));
        worker.Submit({c, Decode(msg, c.rows(), InputLayouts(ctx.plan))});
      }
      ++fed;
      continue;
    }
    ResultItem r = Checked(worker.Next());
    ctx.comm.Send(0, kTagResult, Encode(r.chunk.id, r.outputs));
    stats.rows += r.chunk.rows();
    ++stats.chunks;
    ++finished;
  }
  return stats;
}

// Rank 0: compute own chunks; in scatter mode read and send the others'
// chunks; receive every result and write it.
class Gatherer {
 public:
  Gatherer(const RankLoopContext& ctx, ComputeWorker& worker)
      : ctx_(ctx),
        worker_(worker),
        written_(static_cast<size_t>(ctx.chunks.num_chunks()), false),
        layouts_(OutputLayouts(ctx.plan)) {
    const int ranks = ctx.comm.size();
    for (int r = 0; r < ranks; ++r) {
      auto [first, last] = ctx.chunks.RangeOf(r);
      next_.push_back(first);
      last_.push_back(last);
      finished_.push_back(first);
    }
  }

  RankStats Run() {
    const bool scatter = ctx_.plan.mode == InputMode::kScatter;
    while (written_count_ < ctx_.chunks.num_chunks()) {
      bool progress = false;
      ctx_.comm.ProgressSends();
      while (auto m = ctx_.comm.TryReceive(kTagResult)) {
        const int64_t id = ChunkIdOf(m->data);
        if (id < 0 || id >= ctx_.chunks.num_chunks() || ctx_.chunks.OwnerOf(id) != m->source)
          throw CommError("rank " + std::to_string(m->source) + " sent a result for chunk " + std::to_string(id) +
                          ", which it does not own");
        const Chunk c = ctx_.chunks.chunk(id);
        Write(c, Decode(m->data, c.rows(), layouts_));
        ++finished_[static_cast<size_t>(m->source)];
        progress = true;
      }
      while (auto r = worker_.NextFor(std::chrono::microseconds(0))) {
        OwnResult(Checked(std::move(*r)));
        progress = true;
      }
      if (scatter)
        for (int r = 1; r < ctx_.comm.size(); ++r) progress |= FeedRemote(r);
      progress |= FeedOwn();
      if (!progress) {
        // Idle: sleep on our own results briefly instead of spinning on MPI.
        if (auto r = worker_.NextFor(std::chrono::microseconds(200))) OwnResult(Checked(std::move(*r)));
      }
    }
    ctx_.comm.WaitSends();
    return stats_;
  }

 private:
  bool InFlightRoom(int r) const {
    return next_[static_cast<size_t>(r)] < last_[static_cast<size_t>(r)] &&
           next_[static_cast<size_t>(r)] - finished_[static_cast<size_t>(r)] < static_cast<int64_t>(ctx_.depth);
  }

  bool FeedRemote(int r) {
    bool sent = false;
    while (InFlightRoom(r)) {
      const Chunk c = ctx_.chunks.chunk(next_[static_cast<size_t>(r)]++);
      ctx_.comm.SendAsync(r, kTagInput, Encode(c.id, ReadChunk(*ctx_.input, ctx_.plan, c)));
      sent = true;
    }
    return sent;
  }

  bool FeedOwn() {
    if (!InFlightRoom(0)) return false;
    const Chunk c = ctx_.chunks.chunk(next_[0]++);
    worker_.Submit({c, ReadChunk(*ctx_.input, ctx_.plan, c)});
    return true;
  }

  void OwnResult(ResultItem r) {
    Write(r.chunk, r.outputs);
    ++finished_[0];
    stats_.rows += r.chunk.rows();
    ++stats_.chunks;
  }

  void Write(const Chunk& c, const std::vector<HostArray>& outputs) {
    if (written_[static_cast<size_t>(c.id)]) throw InternalError("chunk " + std::to_string(c.id) + " arrived twice");
    for (size_t o = 0; o < outputs.size(); ++o) ctx_.writer->WriteRows(o, c.begin, c.rows(), outputs[o].bytes.data());
    written_[static_cast<size_t>(c.id)] = true;
    ++written_count_;
  }

  const RankLoopContext& ctx_;
  ComputeWorker& worker_;
  std::vector<bool> written_;
  int64_t written_count_ = 0;
  std::vector<RowLayout> layouts_;
  std::vector<int64_t> next_, last_, finished_;  // per rank: chunk ids
  RankStats stats_;
};

}  // namespace

RankStats RunRankLoop(const RankLoopContext& ctx) {
  ComputeWorker worker(ctx.engine, ctx.plan, ctx.batch_size, ctx.depth);
  RankStats stats;
  if (ctx.comm.rank() == 0) {
    MPSBATCH_ASSERT(ctx.writer && ctx.input);
    stats = Gatherer(ctx, worker).Run();
  } else {
    stats = RunWorker(ctx, worker);
  }
  stats.compute_seconds = worker.compute_seconds();
  return stats;
}

}  // namespace mpsbatch
