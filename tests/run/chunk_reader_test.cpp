// The rank loop's reading thread: it reads chunks for the compute worker and
// for other ranks in the order asked, and a read that fails reaches the loop
// as the very InputError a read on the loop's thread threw, also while the
// compute thread is stuck in the model.
#include "run/chunk_reader.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>

#include "common/error.h"
#include "hdf5/handle.h"
#include "test_util.h"

namespace mpsbatch {

namespace {

constexpr int64_t kRows = 4096, kWidth = 256, kChunkRows = 512;  // 4 MiB of float32 rows, 8 chunks

// Returns its input as its output; with `stuck`, Start never returns, as a
// model that hangs.
class EchoEngine : public Engine {
 public:
  explicit EchoEngine(bool stuck = false) : stuck_(stuck) {}

  void Start(const std::vector<ArrayView>& inputs) override {
    if (stuck_) {
      std::unique_lock lock(mu_);
      started_ = true;
      cv_.notify_all();
      cv_.wait(lock, [] { return false; });
    }
    const ArrayView& x = inputs.at(0);
    HostArray y(x.dtype, x.shape);
    std::memcpy(y.bytes.data(), x.data, y.bytes.size());
    in_flight_.emplace_back();
    in_flight_.back().push_back(std::move(y));
  }
  std::vector<HostArray> Finish() override {
    auto out = std::move(in_flight_.front());
    in_flight_.pop_front();
    return out;
  }
  void Abandon() override { in_flight_.clear(); }
  void CheckInputs(const std::vector<ArrayView>&, const BatchSizes&) override {}
  size_t in_flight() const override { return in_flight_.size(); }
  size_t max_in_flight() const override { return 2; }
  Calibration Calibrate(const std::vector<ArrayView>& batch, const CalibrationBudget&) override {
    return Adopt("echo", batch);
  }
  Calibration Adopt(const std::string& path, const std::vector<ArrayView>& batch) override {
    Calibration c;
    c.batch_rows = batch.at(0).shape[0];
    c.chosen = path;
    return c;
  }
  DeviceKind device_kind() const override { return DeviceKind::kCpu; }
  std::string device_name() const override { return "echo"; }
  std::string device_model() const override { return ""; }
  std::string format() const override { return "echo"; }

  void WaitUntilStuck() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return started_; });
  }

 private:
  const bool stuck_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool started_ = false;
  std::deque<std::vector<HostArray>> in_flight_;
};

class ChunkReaderTest : public testing::Hdf5FolderTest {
 protected:
  void SetUp() override {
    Hdf5FolderTest::SetUp();
    path_ = Path("in.h5");
    // A contiguous dataset of float32 0, 1, 2, ..., which InputFile reads
    // directly, so that cutting the file short fails the later chunks' reads.
    H5Handle file(H5Fcreate(path_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
    const hsize_t dims[2] = {kRows, kWidth};
    H5Handle space(H5Screate_simple(2, dims, nullptr), H5Sclose);
    H5Handle ds(H5Dcreate2(file.get(), "x", H5T_IEEE_F32LE, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                H5Dclose);
    std::vector<float> x(static_cast<size_t>(kRows * kWidth));
    for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i);
    ASSERT_GE(H5Dwrite(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x.data()), 0) << Hdf5Message();
    info_ = InputFile(path_).Describe("x");
    const auto stamp = StampOf(path_);
    ASSERT_TRUE(stamp);
    input_ = std::make_unique<InputSet>(std::vector<InputShard>{{path_, kRows, *stamp}},
                                        std::vector<DatasetInfo>{info_}, ReadOptions{}, false);
    // What the test reads to compare, on its own thread: an InputSet is not
    // thread-safe, and the reader's thread reads input_ meanwhile.
    reference_ = std::make_unique<InputSet>(std::vector<InputShard>{{path_, kRows, *stamp}},
                                            std::vector<DatasetInfo>{info_}, ReadOptions{}, false);
    plan_.rows = kRows;
    plan_.chunk_rows = kChunkRows;
    plan_.inputs = {info_};
    plan_.outputs = {{"y", DType::kFloat32, {kWidth}}};
    compute_.batch_size = kChunkRows;
  }

  // Cuts the last MiB (two chunks' rows) off the file, once InputFile has
  // chosen to read it directly.
  void CutShort() {
    input_->ReadRows(info_, 0, 1);
    reference_->ReadRows(info_, 0, 1);
    std::filesystem::resize_file(path_, std::filesystem::file_size(path_) - (1 << 20));
  }

  static ByteBuffer EncodeRows(const Chunk& c, const std::vector<HostArray>& rows) {
    ByteBuffer m(sizeof c.id + rows.at(0).bytes.size());
    std::memcpy(m.data(), &c.id, sizeof c.id);
    std::memcpy(m.data() + sizeof c.id, rows.at(0).bytes.data(), rows.at(0).bytes.size());
    return m;
  }

  std::unique_ptr<ChunkReader> MakeReader(ComputeWorker& worker) {
    return std::make_unique<ChunkReader>(input_.get(), plan_, worker, 8, EncodeRows,
                                         [](const Chunk&, const ByteBuffer&) -> std::vector<HostArray> {
                                           throw InternalError("a reader with an input decodes nothing");
                                         });
  }

  // What the reader threw, waiting up to 10 s for it to fail.
  static std::string FailureOf(ChunkReader& reader) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      try {
        reader.ThrowIfFailed();
      } catch (const InputError& e) {
        return e.what();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ADD_FAILURE() << "the reader did not fail within 10 s";
    return "";
  }

  // The InputError that reading `c` on this thread throws.
  std::string ReadFailureOf(const Chunk& c) {
    try {
      reference_->ReadRows(info_, c.begin, c.end);
    } catch (const InputError& e) {
      return e.what();
    }
    ADD_FAILURE() << "reading rows " << c.begin << ".." << c.end << " did not fail";
    return "";
  }

  std::string path_;
  std::unique_ptr<InputSet> input_, reference_;
  DatasetInfo info_;
  JobPlan plan_;
  ComputeSettings compute_;
  const ChunkPlan chunks_{kRows, kChunkRows, 2};
};

TEST_F(ChunkReaderTest, ReadsForTheWorkerAndForOtherRanksInOrder) {
  EchoEngine engine;
  ComputeWorker worker(engine, plan_, compute_, 4);
  auto reader = MakeReader(worker);
  for (int64_t id = 0; id < chunks_.num_chunks(); ++id) {
    if (id % 2 == 0)
      reader->ReadForSelf(chunks_.chunk(id), TimelineClock::now());
    else
      reader->ReadFor(static_cast<int>(id % 4 == 1 ? 1 : 3), chunks_.chunk(id));
  }
  for (int64_t id = 0; id < chunks_.num_chunks(); ++id) {
    const Chunk c = chunks_.chunk(id);
    const HostArray rows = reference_->ReadRows(info_, c.begin, c.end);
    if (id % 2 == 0) {
      ResultItem r = worker.Next();
      ASSERT_FALSE(r.error);
      EXPECT_EQ(r.chunk.id, id);
      EXPECT_EQ(r.outputs.at(0).bytes, rows.bytes) << "chunk " << id;
    } else {
      std::optional<ChunkMessage> m;
      while (!(m = reader->NextMessage())) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      EXPECT_EQ(m->rank, id % 4 == 1 ? 1 : 3);
      EXPECT_EQ(m->data, EncodeRows(c, {rows})) << "chunk " << id;
    }
  }
  reader->ThrowIfFailed();
}

// For this rank's own chunk (true) and for another rank's (scatter mode).
class ChunkReaderFailureTest : public ChunkReaderTest, public ::testing::WithParamInterface<bool> {};

TEST_P(ChunkReaderFailureTest, AFailedReadIsThrownAsTheInputFileThrewIt) {
  EchoEngine engine;
  ComputeWorker worker(engine, plan_, compute_, 4);
  auto reader = MakeReader(worker);
  CutShort();
  const Chunk last = chunks_.chunk(chunks_.num_chunks() - 1);
  reader->ReadForSelf(chunks_.chunk(0), TimelineClock::now());
  if (GetParam())
    reader->ReadForSelf(last, TimelineClock::now());
  else
    reader->ReadFor(1, last);
  const std::string failure = FailureOf(*reader);
  EXPECT_EQ(worker.Next().chunk.id, 0);  // what it read before still went on
  EXPECT_EQ(failure, ReadFailureOf(last));
  EXPECT_NE(failure.find("(truncated?)"), std::string::npos) << failure;
  // Later requests are refused with the same error, never left waiting.
  EXPECT_THROW((reader->ReadForSelf(chunks_.chunk(1), TimelineClock::now())), InputError);
  EXPECT_TRUE(reader->Stop(std::chrono::seconds(10)));
}

INSTANTIATE_TEST_SUITE_P(ForSelfOrOther, ChunkReaderFailureTest, ::testing::Bool());

TEST_F(ChunkReaderTest, AFailedReadIsThrownWhileTheModelHangs) {
  // Left to the stuck compute thread, as RunRankLoop leaves them after a failure.
  auto* engine = new EchoEngine(/*stuck=*/true);
  auto* plan = new JobPlan(plan_);
  auto worker = std::make_unique<ComputeWorker>(*engine, *plan, compute_, 2);
  auto reader = MakeReader(*worker);
  CutShort();
  reader->ReadForSelf(chunks_.chunk(0), TimelineClock::now());
  engine->WaitUntilStuck();
  reader->ReadForSelf(chunks_.chunk(1), TimelineClock::now());  // waits in the worker's queue
  const Chunk last = chunks_.chunk(chunks_.num_chunks() - 1);
  reader->ReadForSelf(last, TimelineClock::now());
  EXPECT_EQ(FailureOf(*reader), ReadFailureOf(last));
  EXPECT_TRUE(reader->Stop(std::chrono::seconds(10)));
  (void)reader.release();
  (void)worker.release();
}

}  // namespace

}  // namespace mpsbatch
