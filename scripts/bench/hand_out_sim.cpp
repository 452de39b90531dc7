// A many-rank model of the job's distribution without a model: every rank runs
// the real rank loop (rank 0's chunk hand-out, the reads, the sends, rank 0's
// HDF5 writer and journal checksums) with an engine that computes nothing and
// finishes each batch at a set rate, as a device that scores `--rate` rows/s
// would. The loop's time against rows / (rate x ranks) shows whether the
// hand-out and the writer keep up with that many ranks, and the rate at which
// they stop keeping up.
//
//   mpirun -n 64 --oversubscribe hand_out_sim --rate 20000 --seconds 4 [--chunk ROWS|auto]
//
// --chunk auto cuts the rows as a job without chunk_size would
// (ChooseChunkRows, dynamic schedule); a number forces that chunk_size. Each
// rank holds as many chunks as a job's would (ChunksInFlight).
// Prints one line from rank 0: ranks, rows, the ideal and the measured
// aggregate rate, the efficiency, the chunks rank 0 served a second and the
// CPU time its loop's thread spent per chunk (the hand-out, the receives, the
// writes; also its idle turns, so it is rank 0's cost per chunk only where
// rank 0 is busy, as with a --rate no rank keeps up with). Exits non-zero if
// a row is missing or misplaced in the output, so the ctest smoke run can
// fail.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "comm/communicator.h"
#include "common/error.h"
#include "hdf5/handle.h"
#include "plan/chunk_plan.h"
#include "plan/job_plan.h"
#include "read/input_file.h"
#include "read/input_set.h"
#include "read/input_sources.h"
#include "run/rank_loop.h"
#include "write/result_writer.h"

namespace mpsbatch {
namespace {

using Clock = std::chrono::steady_clock;

struct SimOptions {
  double rate = 20000;  // rows/s per rank
  double seconds = 3;   // the ideal job time: rows = rate * ranks * seconds
  int64_t batch = 256;
  int64_t chunk = 4096;    // 0: as a job would choose (--chunk auto)
  int64_t in_width = 16;   // float32 values per input row
  int64_t out_width = 10;  // float32 values per output row
  int read_threads = 4;    // threads per direct read, as a job's rank gets on a host with cores to spare
  InputMode mode = InputMode::kShared;
  Schedule schedule = Schedule::kDynamic;
  std::string dir = "/tmp/hand_out_sim";
};

// Finishes each batch rows/rate seconds after the later of its start and the
// previous batch's end, like a device with a queue two batches deep. Output
// column 0 is the input's column 0 (the row's index), the rest zeros.
class PacedEngine : public Engine {
 public:
  PacedEngine(double rate, int64_t out_width) : rate_(rate), out_width_(out_width) {}

  void Start(const std::vector<ArrayView>& inputs) override {
    const ArrayView& x = inputs.at(0);
    const int64_t rows = x.shape[0], width = x.shape[1];
    Batch b;
    b.ids.resize(static_cast<size_t>(rows));
    const auto* in = reinterpret_cast<const float*>(x.data);
    for (int64_t r = 0; r < rows; ++r) b.ids[static_cast<size_t>(r)] = in[r * width];
    const auto now = Clock::now();
    const auto begin = in_flight_.empty() ? now : std::max(now, in_flight_.back().done);
    b.done = begin + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(rows / rate_));
    in_flight_.push_back(std::move(b));
  }
  std::vector<HostArray> Finish() override {
    Batch b = std::move(in_flight_.front());
    in_flight_.pop_front();
    std::this_thread::sleep_until(b.done);
    const auto rows = static_cast<int64_t>(b.ids.size());
    HostArray y(DType::kFloat32, {rows, out_width_});
    auto* out = reinterpret_cast<float*>(y.bytes.data());
    std::memset(out, 0, static_cast<size_t>(rows * out_width_) * sizeof(float));
    for (int64_t r = 0; r < rows; ++r) out[r * out_width_] = b.ids[static_cast<size_t>(r)];
    std::vector<HostArray> outs;
    outs.push_back(std::move(y));
    return outs;
  }
  void Abandon() override { in_flight_.clear(); }
  size_t in_flight() const override { return in_flight_.size(); }
  size_t max_in_flight() const override { return 2; }
  void CheckInputs(const std::vector<ArrayView>&, const BatchSizes&) override {}
  Calibration Calibrate(const std::vector<ArrayView>& batch, const CalibrationBudget&) override {
    return Adopt("paced", batch);
  }
  Calibration Adopt(const std::string& path, const std::vector<ArrayView>& batch) override {
    Calibration c;
    c.batch_rows = batch.at(0).shape[0];
    c.chosen = path;
    return c;
  }
  DeviceKind device_kind() const override { return DeviceKind::kCpu; }
  std::string device_name() const override { return "paced"; }
  std::string device_model() const override { return ""; }
  std::string format() const override { return "paced"; }

 private:
  struct Batch {
    Clock::time_point done;
    std::vector<float> ids;
  };
  double rate_;
  int64_t out_width_;
  std::deque<Batch> in_flight_;
};

SimOptions Parse(int argc, char** argv) {
  SimOptions o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i], value = argv[i + 1];
    if (key == "--rate")
      o.rate = std::stod(value);
    else if (key == "--seconds")
      o.seconds = std::stod(value);
    else if (key == "--batch")
      o.batch = std::stoll(value);
    else if (key == "--chunk")
      o.chunk = value == "auto" ? 0 : std::stoll(value);
    else if (key == "--in-width")
      o.in_width = std::stoll(value);
    else if (key == "--out-width")
      o.out_width = std::stoll(value);
    else if (key == "--mode")
      o.mode = value == "scatter" ? InputMode::kScatter : InputMode::kShared;
    else if (key == "--schedule")
      o.schedule = value == "static" ? Schedule::kStatic : Schedule::kDynamic;
    else if (key == "--read-threads")
      o.read_threads = std::stoi(value);
    else if (key == "--dir")
      o.dir = value;
    else
      throw ConfigError("hand_out_sim: unknown option " + key);
  }
  return o;
}

// Rank 0 writes the input: `rows` rows of in_width float32, column 0 the row's
// index (exact in float32 below 2^24 rows).
void WriteInput(const std::string& path, int64_t rows, int64_t width) {
  ResultWriter w(path, {{"x", DType::kFloat32, {width}}}, rows);
  const int64_t step = 1 << 16;
  std::vector<float> x;
  for (int64_t begin = 0; begin < rows; begin += step) {
    const int64_t n = std::min(step, rows - begin);
    x.assign(static_cast<size_t>(n * width), 0.0f);
    for (int64_t r = 0; r < n; ++r) x[static_cast<size_t>(r * width)] = static_cast<float>(begin + r);
    w.WriteRows(0, begin, n, reinterpret_cast<const std::byte*>(x.data()));
  }
  w.Commit(true);
}

int64_t CountMisplacedRows(const std::string& path, int64_t rows, int64_t width) {
  InputFile out(path);
  const DatasetInfo info = out.Describe("y");
  int64_t bad = 0;
  const int64_t step = 1 << 16;
  for (int64_t begin = 0; begin < rows; begin += step) {
    const int64_t n = std::min(step, rows - begin);
    HostArray y = out.ReadRows(info, begin, begin + n);
    const auto* p = reinterpret_cast<const float*>(y.bytes.data());
    for (int64_t r = 0; r < n; ++r)
      if (p[r * width] != static_cast<float>(begin + r)) ++bad;
  }
  return bad;
}

// CPU seconds this thread has run.
double ThreadCpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

int Simulate(Communicator& comm, SimOptions o) {
  const auto row_bytes = static_cast<size_t>((o.in_width + o.out_width) * 4);
  const int64_t ideal_rows = static_cast<int64_t>(o.rate * o.seconds * comm.size()) / o.batch * o.batch;
  if (o.chunk <= 0) {
    const int chunks_per_rank = o.schedule == Schedule::kDynamic ? 16 : 4;  // as plan/plan_job.cpp
    o.chunk = ChooseChunkRows(std::max(o.batch, ideal_rows), o.batch, comm.size(), row_bytes, 0, chunks_per_rank);
  }
  // At least four chunks per rank, so the hand-out is exercised even on a
  // short job.
  const int64_t rows = std::max<int64_t>(4 * o.chunk * comm.size(), ideal_rows / o.chunk * o.chunk);
  if (rows >= (int64_t{1} << 24)) throw ConfigError("hand_out_sim: more than 2^24 rows; lower --seconds or --rate");
  const std::string in_path = o.dir + "/in.h5", out_path = o.dir + "/out.h5";
  if (comm.rank() == 0) {
    std::filesystem::remove_all(o.dir);
    std::filesystem::create_directories(o.dir);
    WriteInput(in_path, rows, o.in_width);
  }
  comm.Barrier();

  JobPlan plan;
  plan.rows = rows;
  plan.chunk_rows = o.chunk;
  plan.mode = o.mode;
  plan.inputs = {{"x", DType::kFloat32, {rows, o.in_width}}};
  plan.outputs = {{"y", DType::kFloat32, {o.out_width}}};
  const ChunkPlan chunks(plan.rows, plan.chunk_rows, comm.size());
  std::unique_ptr<InputSet> input;
  if (comm.rank() == 0 || o.mode == InputMode::kShared) {
    const auto stamp = StampOf(in_path);
    if (!stamp) throw InputError(in_path + ": gone");
    input = std::make_unique<InputSet>(std::vector<InputShard>{{in_path, rows, *stamp}}, plan.inputs,
                                       ReadOptions{.direct = true, .threads = o.read_threads}, true);
  }
  std::unique_ptr<ResultWriter> writer;
  if (comm.rank() == 0) writer = std::make_unique<ResultWriter>(out_path, plan.outputs, plan.rows);
  PacedEngine engine(o.rate, o.out_width);
  ComputeSettings compute;
  compute.batch_size = o.batch;
  // The loop's other settings keep their defaults (no resume, no stall
  // timeout, no progress lines).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
  RankLoopContext ctx{.comm = comm,
                      .engine = engine,
                      .plan = plan,
                      .chunks = chunks,
                      .compute = compute,
                      .input = input.get(),
                      .writer = writer.get(),
                      .depth = ChunksInFlight(o.chunk, o.batch, static_cast<size_t>(o.chunk) * row_bytes),
                      .schedule = o.schedule};
#pragma GCC diagnostic pop

  comm.Barrier();
  const auto start = Clock::now();
  const double cpu_start = ThreadCpuSeconds();
  const RankStats stats = RunRankLoop(ctx);
  const double cpu = ThreadCpuSeconds() - cpu_start;
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const int64_t total = comm.AllreduceSum(stats.rows);
  int failed = total == rows ? 0 : 1;
  if (comm.rank() == 0) {
    writer->Commit(true);
    const int64_t bad = CountMisplacedRows(out_path, rows, o.out_width);
    if (bad > 0) failed = 1;
    const double ideal = o.rate * comm.size();
    std::printf(
        "ranks %d  rows %lld  chunk %lld  batch %lld  mode %s  in %lld B/row  out %lld B/row  ideal %.0f rows/s  "
        "measured %.0f rows/s  efficiency %.1f%%  chunks %lld  served %.0f chunks/s  rank 0 loop %.1f us CPU/chunk  "
        "depth %zu  misplaced %lld\n",
        comm.size(), static_cast<long long>(rows), static_cast<long long>(o.chunk), static_cast<long long>(o.batch),
        o.mode == InputMode::kScatter ? "scatter" : "shared", static_cast<long long>(o.in_width * 4),
        static_cast<long long>(o.out_width * 4), ideal, rows / seconds, 100.0 * rows / seconds / ideal,
        static_cast<long long>(chunks.num_chunks()), chunks.num_chunks() / seconds, 1e6 * cpu / chunks.num_chunks(),
        ctx.depth, static_cast<long long>(bad));
    std::filesystem::remove_all(o.dir);
  }
  return static_cast<int>(comm.AllreduceMax(failed));
}

}  // namespace
}  // namespace mpsbatch

int main(int argc, char** argv) {
  mpsbatch::MpiSession mpi(&argc, &argv);
  mpsbatch::SilenceHdf5Errors();
  mpsbatch::Communicator world;
  try {
    return mpsbatch::Simulate(world, mpsbatch::Parse(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hand_out_sim: rank %d: %s\n", world.rank(), e.what());
    world.Abort(2);
  }
  return 2;
}
