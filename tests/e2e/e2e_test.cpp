// End to end: the mpsbatch binary, launched through mpiexec (FindMPI's
// MPIEXEC_* settings) at 1-4 ranks, against references that Python torch
// computed from the same model files (tests/fixtures/make_fixtures.py), and
// against itself across rank counts and input modes. Every user error is
// checked for its message, its exit code, a bounded time and no output file.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <regex>
#include <sstream>
#include <thread>

#include "common/sha256.h"
#include "e2e_util.h"
#include "hdf5/handle.h"
#include "read/input_file.h"
#include "test_util.h"

namespace mpsbatch {

using namespace e2e;

// Bitwise comparisons force one path: under path: auto each rank may pick
// another (they agree to calibration's tolerance, not to the bit). And one
// thread count: threads: 0 gives ranks the host's cores over their number,
// and CPU kernels split their sums by it (job-reference.md, Determinism).
TEST_F(E2E, MatchesPythonReferenceAndIsBitwiseIdenticalAcrossRankCounts) {
  const auto job = WriteJob(dir_, "mlp.pt", "[x_f32]", "[y]", "path: eager\nthreads: 1\n");
  const auto want = ReadFloats(Fixture("reference.h5"), "mlp_x_f32");
  std::vector<float> first;
  for (int ranks = 1; ranks <= 4; ++ranks) {
    SCOPED_TRACE("ranks = " + std::to_string(ranks));
    const std::string out = (dir_ / ("out" + std::to_string(ranks) + ".h5")).string();
    auto r = RunMpsbatch(ranks, job, {"--set", "output.path=" + out});
    EXPECT_RUN_OK(r);
    auto got = ReadFloats(out, "y");
    ExpectNear(got, want, Tolerance());
    if (ranks == 1) first = got;
    EXPECT_EQ(std::memcmp(got.data(), first.data(), got.size() * sizeof(float)), 0) << "differs from 1 rank";
  }
}

TEST_F(E2E, Uint8InputWithScaleMatchesReference) {
  const auto job = WriteJob(dir_, "mlp.pt", "[x_u8]");
  auto r = RunMpsbatch(2, job, {"--set", "input.scale=0.0625", "--set", "output.path=" + Out()});
  EXPECT_RUN_OK(r);
  ExpectNear(ReadFloats(Out(), "y"), ReadFloats(Fixture("reference.h5"), "mlp_x_u8_scaled"), Tolerance());
}

TEST_F(E2E, Float64InputIsCastToFloat32) {
  auto r = RunMpsbatch(3, WriteJob(dir_, "mlp.pt", "[x_f64]"));
  EXPECT_RUN_OK(r);
  ExpectNear(ReadFloats(Out(), "y"), ReadFloats(Fixture("reference.h5"), "mlp_x_f64"), Tolerance());
}

TEST_F(E2E, ModelWithTwoOutputs) {
  auto r = RunMpsbatch(2, WriteJob(dir_, "two_outputs.pt", "[x_f32]", "[logits, probs]"));
  EXPECT_RUN_OK(r);
  ExpectNear(ReadFloats(Out(), "logits"), ReadFloats(Fixture("reference.h5"), "two_outputs_logits"), Tolerance());
  ExpectNear(ReadFloats(Out(), "probs"), ReadFloats(Fixture("reference.h5"), "two_outputs_probs"), Tolerance());
}

TEST_F(E2E, ModelWithTwoInputs) {
  auto r = RunMpsbatch(3, WriteJob(dir_, "two_inputs.pt", "[ids, mask]"));
  EXPECT_RUN_OK(r);
  ExpectNear(ReadFloats(Out(), "y"), ReadFloats(Fixture("reference.h5"), "two_inputs"), Tolerance());
}

TEST_F(E2E, SharedAndScatterModesWriteIdenticalResults) {
  const auto job = WriteJob(dir_, "two_outputs.pt", "[x_f32]", "[logits, probs]", "path: eager\n");
  std::vector<std::vector<float>> results;
  for (const char* mode : {"shared", "scatter"}) {
    const std::string out = (dir_ / (std::string(mode) + ".h5")).string();
    auto r = RunMpsbatch(3, job, {"--set", std::string("input.mode=") + mode, "--set", "output.path=" + out});
    EXPECT_RUN_OK(r);
    EXPECT_NE(r.output.find(std::string("(mode ") + mode + ")"), std::string::npos) << r.output;
    EXPECT_EQ(StringAttribute(out, "input_mode"), mode);
    results.push_back(ReadFloats(out, "logits"));
    auto probs = ReadFloats(out, "probs");
    results.back().insert(results.back().end(), probs.begin(), probs.end());
  }
  ASSERT_EQ(results[0].size(), results[1].size());
  EXPECT_EQ(std::memcmp(results[0].data(), results[1].data(), results[0].size() * sizeof(float)), 0);
}

// Every combination of schedule and input mode writes the same file contents.
TEST_F(E2E, SchedulesAndModesWriteIdenticalResults) {
  const auto job = WriteJob(dir_, "mlp.pt", "[x_f32]", "[y]", "path: eager\n");
  std::vector<float> first;
  for (const char* schedule : {"dynamic", "static"}) {
    for (const char* mode : {"shared", "scatter"}) {
      SCOPED_TRACE(std::string(schedule) + ", " + mode);
      const std::string out = (dir_ / (std::string(schedule) + "-" + mode + ".h5")).string();
      auto r = RunMpsbatch(3, job,
                           {"--set", std::string("schedule=") + schedule, "--set", std::string("input.mode=") + mode,
                            "--set", "chunk_size=8", "--set", "output.path=" + out});
      EXPECT_RUN_OK(r);
      EXPECT_NE(r.output.find(std::string("schedule ") + schedule), std::string::npos) << r.output;
      EXPECT_EQ(StringAttribute(out, "schedule"), schedule);
      auto got = ReadFloats(out, "y");
      if (first.empty()) first = got;
      ASSERT_EQ(got.size(), first.size());
      EXPECT_EQ(std::memcmp(got.data(), first.data(), got.size() * sizeof(float)), 0);
    }
  }
}

// NaN and Inf in the outputs are kept, counted, recorded and warned about;
// fail_on_nonfinite makes the first one an error (exit 5) naming its row.
TEST_F(E2E, NonFiniteOutputsAreCountedOrAnError) {
  const auto job = WriteJob(dir_, "nonfinite.pt", "[x_f32]");
  const auto want = ReadFloats(Fixture("reference.h5"), "nonfinite_x_f32");
  int64_t count = 0, first_row = -1;
  for (size_t i = 0; i < want.size(); ++i)
    if (!std::isfinite(want[i]) && count++ == 0) first_row = static_cast<int64_t>(i / 4);
  ASSERT_GT(count, 0) << "the fixture should hold NaN and Inf";

  auto r = RunMpsbatch(3, job);
  EXPECT_RUN_OK(r);
  const auto got = ReadFloats(Out(), "y");
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i]))
      EXPECT_TRUE(std::isnan(got[i])) << "element " << i;
    else
      EXPECT_EQ(got[i], want[i]) << "element " << i;
  }
  EXPECT_EQ(IntAttribute(Out(), "nonfinite_values"), count);
  EXPECT_NE(r.output.find("hold " + std::to_string(count) + " non-finite value(s) (NaN or Inf), the first in row " +
                          std::to_string(first_row)),
            std::string::npos)
      << r.output;

  fs::remove(Out());
  r = RunMpsbatch(3, job, {"--set", "fail_on_nonfinite=true"});
  EXPECT_EQ(r.exit_code, 5) << r.output;
  EXPECT_NE(r.output.find("has a non-finite value (NaN or Inf) in row"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(Out()));
}

// A full disk while writing: the output folder is a 512 KiB tmpfs (mounted in
// a private mount namespace, so root and `unshare` are needed; otherwise the
// test skips) and the output 1.7 MB. One output error naming the partial file
// and ENOSPC, exit 7, no file at the final name, and the partial file with
// its journal kept for a --resume once there is room.
TEST_F(E2E, DiskFullIsAnOutputErrorAndKeepsThePartialFile) {
  const fs::path small = dir_ / "small";
  fs::create_directories(small);
  const std::string mount = "mount -t tmpfs -o size=512k tmpfs '" + small.string() + "'";
  auto probe = Spawn({"unshare", "-m", "sh", "-c", mount}, dir_ / "probe.log", 20);
  if (probe.exit_code != 0) GTEST_SKIP() << "cannot mount a small tmpfs here: " << probe.output;

  const auto job = WriteJob(dir_, "identity.pt", "[x_wide]");
  std::string command = mount + " && ";
  auto argv = MpirunArgs(3, job, {"--set", "output.path=" + (small / "out.h5").string()});
  for (const auto& a : argv) command += "'" + a + "' ";
  command += "; rc=$?; echo \"left: $(ls -A '" + small.string() + "' | tr '\\n' ' ')\"; exit $rc";
  auto r = Spawn({"unshare", "-m", "sh", "-c", command}, dir_ / "run.log", 60);
  const std::string partial = (small / "out.h5.partial").string();
  EXPECT_EQ(r.exit_code, 7) << r.output;
  EXPECT_NE(r.output.find("rank 0 failed in score: output error: " + partial), std::string::npos) << r.output;
  const auto failed = r.output.find("rank 0 failed in score: output error: " + partial);  // on that one line:
  EXPECT_LT(r.output.find("No space left on device", failed), r.output.find('\n', failed)) << r.output;
  EXPECT_NE(r.output.find("the rows written so far stay in " + partial), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("left: out.h5.partial out.h5.partial.chunks \n"), std::string::npos) << r.output;
}

// kill -9 of one rank (rank 0 too) while rows are being scored: the job ends
// within 10 s, non-zero, with a message naming the lost rank, no process left
// behind and no output file that looks complete.
class KillOneRank : public ::testing::TestWithParam<int> {};

TEST_P(KillOneRank, JobEndsWithinTenSecondsNamingIt) {
  const int victim = GetParam();
  const auto dir = testing::TestDir();
  const auto job = WriteJob(dir, "slow.pt", "[x_f32]", "[y]", "path: eager\n");
  auto argv = MpirunArgs(3, job, {"--set", "batch_size=1", "--set", "chunk_size=1"});
  const fs::path log = dir / "run.log";
  const pid_t mpirun = Start(argv, log);

  // Wait for scoring to start, then a random moment within it.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (testing::ReadFile(log).find("calibration: ") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::srand(static_cast<unsigned>(std::time(nullptr)));
  std::this_thread::sleep_for(std::chrono::milliseconds(std::rand() % 800));
  pid_t target = 0;
  for (const auto& [pid, rank] : RankProcesses(job.string()))
    if (rank == victim) target = pid;
  if (target == 0) {
    killpg(mpirun, SIGKILL);
    Wait(mpirun, log, 10);
    GTEST_SKIP() << "no process with OMPI_COMM_WORLD_RANK=" << victim << " (not Open MPI?)";
  }
  ASSERT_EQ(kill(target, SIGKILL), 0);
  const RunResult r = Wait(mpirun, log, 30);
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_LT(r.seconds, 10) << r.output;
  EXPECT_NE(r.output.find("rank " + std::to_string(victim)), std::string::npos) << r.output;
  EXPECT_TRUE(WaitForNoRanks(job.string())) << "ranks left running";
  EXPECT_FALSE(fs::exists(dir / "out.h5"));
}

INSTANTIATE_TEST_SUITE_P(E2E, KillOneRank, ::testing::Values(0, 1, 2));

// Ten times: a random rank of a run with 1-3 ranks is killed (kill -9) at a
// random moment while scoring, and the next run resumes with another rank
// count. The finished file holds exactly the rows of one clean run.
TEST(Resume, AfterTenRandomKillsTheOutputEqualsACleanRun) {
  const auto dir = testing::TestDir();
  const auto job = WriteJob(dir, "slow.pt", "[x_f32]", "[y]", "path: eager\n");
  const std::vector<std::string> small_chunks{"--set", "batch_size=1", "--set", "chunk_size=1"};
  auto clean_args = small_chunks;
  clean_args.insert(clean_args.end(), {"--set", "output.path=" + (dir / "clean.h5").string()});
  auto clean = RunMpsbatch(3, job, clean_args);
  ASSERT_EQ(clean.exit_code, 0) << clean.output;
  // A rank's time per row here (3 ranks shared the clean run's 103 rows):
  // each run is killed within 4 rows a rank of scoring, so that ten runs
  // cannot finish the job between them, on a fast machine or a slow device.
  std::smatch scoring;
  ASSERT_TRUE(std::regex_search(clean.output, scoring, std::regex(R"(scoring ([0-9.]+) s)"))) << clean.output;
  const int row_ms = std::max(1, static_cast<int>(std::stod(scoring[1].str()) * 1000 * 3 / 103));

  std::srand(static_cast<unsigned>(std::time(nullptr)));
  auto resume_args = small_chunks;
  resume_args.push_back("--resume");
  int kills = 0, finished_early = 0, resumed = 0;
  for (int round = 0; round < 10; ++round) {
    const int ranks = 1 + round % 3;
    auto argv = MpirunArgs(ranks, job, resume_args);
    const fs::path log = dir / ("round" + std::to_string(round) + ".log");
    const pid_t mpirun = Start(argv, log);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (testing::ReadFile(log).find("calibration: ") == std::string::npos &&
           std::chrono::steady_clock::now() < deadline && Running(mpirun))
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + std::rand() % (4 * row_ms)));
    const auto victims = RankProcesses(job.string());
    if (!victims.empty()) {
      kill(victims[static_cast<size_t>(std::rand()) % victims.size()].first, SIGKILL);
      ++kills;
    }
    const RunResult r = Wait(mpirun, log, 60);
    ASSERT_TRUE(WaitForNoRanks(job.string())) << "ranks left running";
    resumed += r.output.find("chunks done by an earlier run") != std::string::npos;
    ASSERT_EQ(r.output.find("the run hung"), std::string::npos) << r.output;
    if (fs::exists(dir / "out.h5")) {
      ++finished_early;  // the run ended before the kill: start the next one afresh
      if (round < 9) fs::remove(dir / "out.h5");
    }
  }
  EXPECT_GE(kills, 8);
  EXPECT_GE(resumed, 5) << "runs that took over chunks from an earlier one";
  if (!fs::exists(dir / "out.h5")) {
    auto last = RunMpsbatch(2, job, resume_args);
    ASSERT_EQ(last.exit_code, 0) << last.output;
  }

  const auto want = ReadFloats((dir / "clean.h5").string(), "y");
  const auto got = ReadFloats((dir / "out.h5").string(), "y");
  ASSERT_EQ(got.size(), want.size());
  EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0);
  EXPECT_FALSE(fs::exists(dir / "out.h5.partial"));
  EXPECT_FALSE(fs::exists(dir / "out.h5.partial.chunks"));
  std::printf("%d kills, %d runs finished before their kill\n", kills, finished_early);
}

// A resume that would mix rows of two different jobs is refused, naming what
// changed, and leaves the partial file for a resume of the right job.
TEST(Resume, RefusesAChangedJobNamingTheKey) {
  const auto dir = testing::TestDir();
  const auto job = WriteJob(dir, "slow.pt", "[x_f32]", "[y]", "path: eager\n");
  const fs::path log = dir / "first.log";
  auto argv = MpirunArgs(2, job, {"--set", "batch_size=1", "--set", "chunk_size=1"});
  const pid_t mpirun = Start(argv, log);
  while (testing::ReadFile(log).find("calibration: ") == std::string::npos && Running(mpirun))
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  killpg(mpirun, SIGKILL);
  Wait(mpirun, log, 30);
  ASSERT_TRUE(WaitForNoRanks(job.string()));
  ASSERT_TRUE(fs::exists(dir / "out.h5.partial")) << testing::ReadFile(log);

  auto r = RunMpsbatch(2, job, {"--resume", "--set", "batch_size=2", "--set", "chunk_size=1"});
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("cannot resume " + (dir / "out.h5.partial").string() +
                          ": batch_size was '1' when the output was started, is '2' now"),
            std::string::npos)
      << r.output;
  r = RunMpsbatch(2, job, {"--resume", "--set", "batch_size=1", "--set", "model.path=" + Fixture("identity.pt")});
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("model.sha256 was"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(dir / "out.h5.partial"));
  EXPECT_FALSE(fs::exists(dir / "out.h5"));
}

TEST_F(E2E, MoreRanksThanRows) {
  const auto want = ReadFloats(Fixture("reference.h5"), "mlp_x_f32");
  auto r = RunMpsbatch(4, WriteJob(dir_, "mlp.pt", "[x_small]"));
  EXPECT_RUN_OK(r);
  ExpectNear(ReadFloats(Out(), "y"), std::vector<float>(want.begin(), want.begin() + 30), Tolerance());
  auto one = RunMpsbatch(2, WriteJob(dir_, "mlp.pt", "[x_one]"), {"--set", "output.overwrite=true"});
  EXPECT_RUN_OK(one);
  ExpectNear(ReadFloats(Out(), "y"), std::vector<float>(want.begin(), want.begin() + 10), Tolerance());
}

TEST_F(E2E, AutomaticChunkingAndOneRowChunks) {
  const auto want = ReadFloats(Fixture("reference.h5"), "mlp_x_f32");
  const auto job = WriteJob(dir_, "mlp.pt", "[x_f32]");
  for (const char* chunk : {"chunk_size=1", "batch_size=128"}) {
    auto r = RunMpsbatch(3, job, {"--set", chunk, "--set", "output.overwrite=true"});
    EXPECT_RUN_OK(r);
    ExpectNear(ReadFloats(Out(), "y"), want, Tolerance());
  }
}

TEST_F(E2E, AotiPackageMatchesReference) {
  if (!MPSBATCH_HAVE_AOTI) GTEST_SKIP() << "libtorch without AOTInductor";
  auto r = RunMpsbatch(2, WriteJob(dir_, "mlp_aoti.pt2", "[x_f32]"));
  EXPECT_RUN_OK(r);
  EXPECT_NE(r.output.find("(aoti)"), std::string::npos) << r.output;
  ExpectNear(ReadFloats(Out(), "y"), ReadFloats(Fixture("reference.h5"), "mlp_aoti_x_f32"), Tolerance());
}

// uint8 NHWC images, normalised on the device (scale, per-channel mean and
// std, to NCHW), through a conv + batch-norm model on every TorchScript path.
TEST_F(E2E, ImageNormalisationOnTheDeviceMatchesReferenceOnEveryPath) {
  const auto want = ReadFloats(Fixture("reference.h5"), "convnet_images");
  const fs::path job = dir_ / "job.yaml";
  testing::WriteFile(job, "model:\n  path: " + Fixture("convnet.pt") + "\ndevice: " + TestDevice() +
                              "\nbatch_size: 16\nchunk_size: 32\ninput:\n  path: " + Fixture("inputs.h5") +
                              "\n  dataset: images\n  layout: nhwc\n  scale: 0.00392156862745098\n"
                              "  mean: [0.485, 0.456, 0.406]\n  std: [0.229, 0.224, 0.225]\n"
                              "output:\n  path: out.h5\n  datasets: [y]\n  overwrite: true\n");
  for (const char* path : {"eager", "frozen", "auto"}) {
    auto r = RunMpsbatch(2, job, {"--set", std::string("path=") + path});
    EXPECT_RUN_OK(r);
    // Folding batch norm into the conv moves float32 results by ~1e-6.
    ExpectNear(ReadFloats(Out(), "y"), want, std::max(Tolerance(), 1e-4));
    EXPECT_NE(StringAttribute(Out(), "paths").find("rank 1: batch 16, path "), std::string::npos)
        << StringAttribute(Out(), "paths");
    if (std::string(path) != "auto") {
      EXPECT_NE(StringAttribute(Out(), "paths").find(std::string("path ") + path), std::string::npos)
          << StringAttribute(Out(), "paths");
    }
  }
}

// A forced path is not chosen by timing: path: frozen, which has two
// variants on a GPU (with and without channels-last) for this 4-D model,
// runs the first that builds and agrees with eager, untimed, and gives the
// same bits on 1 and 3 ranks. (On a CPU, frozen has one variant.)
TEST_F(E2E, ForcedFrozenIsUntimedAndTheSameBitsOnAnyRankCount) {
  const fs::path job = dir_ / "job.yaml";
  testing::WriteFile(job, "model:\n  path: " + Fixture("convnet.pt") + "\ndevice: " + TestDevice() +
                              "\nbatch_size: 16\nchunk_size: 16\npath: frozen\ncalibration_cache: off\n"
                              "input:\n  path: " +
                              Fixture("inputs.h5") +
                              "\n  dataset: images\n  layout: nhwc\n  scale: 0.00392156862745098\n"
                              "output:\n  path: out.h5\n  datasets: [y]\n  overwrite: true\n");
  std::string bits;
  for (const int ranks : {1, 3}) {
    auto r = RunMpsbatch(ranks, job);
    EXPECT_RUN_OK(r);
    const std::string recorded = StringAttribute(Out(), "paths");
    EXPECT_NE(recorded.find("untimed"), std::string::npos) << recorded;
    EXPECT_EQ(recorded.find("rows/s"), std::string::npos) << recorded;
    EXPECT_EQ(recorded.find("ran out"), std::string::npos) << recorded;
    const std::string y = ReadFloatsBytes(Out(), "y");
    if (bits.empty()) bits = y;
    EXPECT_TRUE(y == bits) << "path: frozen wrote other bits on " << ranks << " ranks: " << recorded;
  }
}

// Every path the engine offers for the MLP, forced and chosen, gives the
// reference; the output records what each rank chose and measured.
TEST_F(E2E, EveryPathMatchesReference) {
  const auto want = ReadFloats(Fixture("reference.h5"), "mlp_x_f32");
  const auto job = WriteJob(dir_, "mlp.pt", "[x_f32]", "[y]", "");
  std::vector<std::string> paths{"eager", "frozen", "auto"};
  if (MPSBATCH_HAVE_AOTI) paths.push_back("aoti");
  if (TestDevice() == "cuda") paths.push_back("cudagraph");
  for (const auto& path : paths) {
    std::vector<std::string> args{"--set", "path=" + path, "--set", "output.overwrite=true"};
    if (MPSBATCH_HAVE_AOTI) args.insert(args.end(), {"--set", "model.compiled=" + Fixture("mlp_aoti.pt2")});
    auto r = RunMpsbatch(2, job, args);
    EXPECT_RUN_OK(r);
    ExpectNear(ReadFloats(Out(), "y"), want, Tolerance());
    const std::string recorded = StringAttribute(Out(), "paths");
    EXPECT_NE(recorded.find("rank 0: batch 8, path "), std::string::npos) << recorded;
    if (path != "auto") {
      EXPECT_NE(recorded.find("path " + path), std::string::npos) << recorded;
    }
    if (path == "auto") {
      EXPECT_NE(recorded.find("eager "), std::string::npos) << recorded;
      EXPECT_NE(recorded.find("frozen "), std::string::npos) << recorded;
      if (MPSBATCH_HAVE_AOTI) {
        EXPECT_NE(recorded.find("aoti"), std::string::npos) << recorded;
      }
    }
  }
}

TEST_F(E2E, BatchSizeAutoSearchesAndMatchesReference) {
  const auto job = WriteJob(dir_, "mlp.pt", "[x_f32]");
  auto r = RunMpsbatch(2, job, {"--set", "batch_size=auto", "--set", "chunk_size=0"});
  EXPECT_RUN_OK(r);
  ExpectNear(ReadFloats(Out(), "y"), ReadFloats(Fixture("reference.h5"), "mlp_x_f32"), Tolerance());
  const std::string recorded = StringAttribute(Out(), "paths");
  EXPECT_NE(recorded.find("(auto: 16: "), std::string::npos) << recorded;
}

// The second run of a job takes the first one's calibration from the cache
// and writes the same bytes; a damaged entry or a choice that no longer
// builds is measured again; `off` neither reads nor writes. (The path is
// forced: a timed path is not cached where the job's share of time ran out
// before the next one, as it may on a loaded machine; the batch search is.)
TEST_F(E2E, CalibrationIsCachedBetweenJobs) {
  const auto job = WriteJob(dir_, "mlp.pt", "[x_f32]", "[y]", "path: frozen\n");
  const fs::path folder = dir_ / "cache" / "mpsbatch" / "calibration";
  const std::vector<std::string> overwrite{"--set", "batch_size=auto", "--set", "output.overwrite=true"};
  auto first = RunMpsbatch(2, job, overwrite);
  EXPECT_RUN_OK(first);
  EXPECT_NE(first.output.find("stored in " + folder.string()), std::string::npos) << first.output;
  ASSERT_TRUE(fs::exists(folder));
  const std::vector<fs::path> entries{fs::directory_iterator(folder), fs::directory_iterator()};
  ASSERT_EQ(entries.size(), 1u);
  const std::string measured = ReadFloatsBytes(Out(), "y");

  auto second = RunMpsbatch(2, job, overwrite);
  EXPECT_RUN_OK(second);
  EXPECT_NE(second.output.find("from the cache " + entries[0].string() + " (measured: batch "), std::string::npos)
      << second.output;
  EXPECT_EQ(second.output.find("stored in"), std::string::npos) << "measured again: " << second.output;
  EXPECT_TRUE(ReadFloatsBytes(Out(), "y") == measured) << "the cached path and batch wrote other bits";

  testing::WriteFile(entries[0], testing::ReadFile(entries[0]).substr(0, 40));  // cut short
  auto damaged = RunMpsbatch(2, job, overwrite);
  EXPECT_RUN_OK(damaged);
  EXPECT_NE(damaged.output.find("stored in " + entries[0].string()), std::string::npos) << damaged.output;

  std::string entry = testing::ReadFile(entries[0]);
  const size_t at = entry.find("\npath=");
  ASSERT_NE(at, std::string::npos) << entry;
  entry.replace(at, entry.find('\n', at + 1) - at, "\npath=warp");
  testing::WriteFile(entries[0], entry);
  auto stale = RunMpsbatch(2, job, overwrite);
  EXPECT_RUN_OK(stale);
  EXPECT_NE(stale.output.find("the cached choice (warp) failed, measured again"), std::string::npos) << stale.output;
  // Measured again, it may choose another path (on CUDA their last bits differ).
  ExpectNear(ReadFloats(Out(), "y"), ReadFloats(Fixture("reference.h5"), "mlp_x_f32"), Tolerance());

  fs::remove_all(folder);
  auto off = RunMpsbatch(
      2, job, {"--set", "batch_size=auto", "--set", "output.overwrite=true", "--set", "calibration_cache=off"});
  EXPECT_RUN_OK(off);
  EXPECT_FALSE(fs::exists(folder));
  EXPECT_EQ(off.output.find("cache"), std::string::npos) << off.output;
}

TEST_F(E2E, CudaGraphOnAHostWithoutCudaIsAnError) {
  if (TestDevice() == "cuda") GTEST_SKIP() << "the job runs on CUDA here";
  auto r = RunMpsbatch(2, WriteJob(dir_, "mlp.pt", "[x_f32]"), {"--set", "path=cudagraph"});
  EXPECT_EQ(r.exit_code, 6) << r.output;
  EXPECT_NE(r.output.find("path: cudagraph needs a CUDA device"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(Out()));
}

TEST_F(E2E, OutputRecordsTheRun) {
  const auto job = WriteJob(dir_, "mlp.pt", "[x_f32]");
  auto r = RunMpsbatch(2, job, {"-v"});  // -v: the per-rank lines
  EXPECT_RUN_OK(r);
  EXPECT_EQ(IntAttribute(Out(), "rows"), 103);
  EXPECT_EQ(IntAttribute(Out(), "ranks"), 2);
  EXPECT_EQ(StringAttribute(Out(), "model_sha256"), Sha256Hex(testing::ReadFile(Fixture("mlp.pt"))));
  EXPECT_EQ(StringAttribute(Out(), "model_path"), Fixture("mlp.pt"));
  EXPECT_EQ(StringAttribute(Out(), "devices"), (TestDevice() == "cuda" ? "cuda:0" : TestDevice()) + " x2");
  EXPECT_NE(StringAttribute(Out(), "job_yaml").find("x_f32"), std::string::npos);
  EXPECT_NE(StringAttribute(Out(), "libtorch_version"), "(missing)");
  EXPECT_NE(StringAttribute(Out(), "mpsbatch_version"), "(missing)");
  EXPECT_EQ(StringAttribute(Out(), "start_time").size(), 20u);
  EXPECT_EQ(StringAttribute(Out(), "end_time").size(), 20u);
  EXPECT_NE(r.output.find("done: 103 rows"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("rank 1:"), std::string::npos) << r.output;
  // The time line: each part of the run, the process's start on Linux too.
  const std::regex time_line(R"(time: ([0-9.]+ s before the job, )?plan [0-9.]+, engines [0-9.]+, )"
                             R"(calibration [0-9.]+, output [0-9.]+, scoring [0-9.]+, finishing [0-9.]+ s)");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.output, m, time_line)) << r.output;
  if (fs::exists("/proc/self/stat")) {  // Linux: the time before the job too
    EXPECT_TRUE(m[1].matched) << r.output;
  }
  // At -v, finishing in its steps.
  EXPECT_TRUE(std::regex_search(
      r.output, std::regex(R"(finishing: totals [0-9.]+ s, sealing [0-9.]+, the other ranks' exit [0-9.]+, )"
                           R"(publishing [0-9.]+)")))
      << r.output;
  EXPECT_FALSE(fs::exists(Out() + ".partial"));
}

TEST_F(E2E, DryRunPrintsThePlanAndWritesNothing) {
  auto r = RunMpsbatch(2, WriteJob(dir_, "two_outputs.pt", "[x_f32]", "[logits, probs]"), {"--dry-run"});
  EXPECT_RUN_OK(r);
  EXPECT_NE(r.output.find("plan: 103 rows"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("probs: float32 [103, 10]"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("dry run: nothing written"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(Out()));
  EXPECT_FALSE(fs::exists(Out() + ".partial"));
}

TEST_F(E2E, RunsWithoutMpirun) {
  auto r = Spawn(MpsbatchArgs(WriteJob(dir_, "mlp.pt", "[x_f32]"), {}), dir_ / "log", 120);
  EXPECT_RUN_OK(r);
  ExpectNear(ReadFloats(Out(), "y"), ReadFloats(Fixture("reference.h5"), "mlp_x_f32"), Tolerance());
}

TEST_F(E2E, VersionAndHelp) {
  auto v = Spawn({MPSBATCH_BIN, "--version"}, dir_ / "v.log", 60);
  EXPECT_RUN_OK(v);
  EXPECT_NE(v.output.find("libtorch"), std::string::npos);
  EXPECT_NE(v.output.find("HDF5"), std::string::npos);
  EXPECT_NE(v.output.find("MPI"), std::string::npos);
  auto h = Spawn({MPSBATCH_BIN, "--help"}, dir_ / "h.log", 60);
  EXPECT_RUN_OK(h);
  EXPECT_NE(h.output.find("--dry-run"), std::string::npos);
}

// Ranks on rank 0's host that see the model file rank 0 read take their own
// read of it without hashing it (the debug log says which way each rank got
// the model).
TEST_F(E2E, RanksOnRankZerosHostTakeTheModelFileItReadUnhashed) {
  auto r = RunMpsbatch(2, WriteJob(dir_, "mlp.pt", "[x_f32]"), {"-v"});
  EXPECT_RUN_OK(r);
  EXPECT_NE(r.output.find("model.path '" + Fixture("mlp.pt") + "': the file rank 0 read"), std::string::npos)
      << r.output;
  ExpectNear(ReadFloats(Out(), "y"), ReadFloats(Fixture("reference.h5"), "mlp_x_f32"), Tolerance());
}

// Ranks 1.. run in a mount namespace where the fixtures folder is empty: a
// cluster without a shared filesystem. auto picks scatter and rank 0 sends
// the model; shared is refused naming the rank.
class NoSharedFilesystem : public E2E {
 protected:
  void SetUp() override {
    E2E::SetUp();
    if (Spawn({"unshare", "-m", "true"}, dir_ / "probe.log", 30).exit_code != 0)
      GTEST_SKIP() << "mount namespaces are not available here";
  }
  RunResult Run(const fs::path& job, const std::vector<std::string>& args) {
    auto argv = MpirunArgs(1, job, args);
    const auto tail = MpsbatchArgs(job, args);
    argv.insert(argv.end(),
                {":", MPSBATCH_NUMPROC_FLAG, "2", std::string(MPSBATCH_TESTS_DIR) + "/hide_dir.sh", kFixtures});
    argv.insert(argv.end(), tail.begin(), tail.end());
    return Spawn(argv, dir_ / "run.log", 120);
  }
};

TEST_F(NoSharedFilesystem, AutoScattersInputAndModelFromRankZero) {
  auto r = Run(WriteJob(dir_, "mlp.pt", "[x_f32]"), {});
  EXPECT_RUN_OK(r);
  EXPECT_NE(r.output.find("2 rank(s) cannot read"), std::string::npos) << r.output;
  EXPECT_EQ(StringAttribute(Out(), "input_mode"), "scatter");
  ExpectNear(ReadFloats(Out(), "y"), ReadFloats(Fixture("reference.h5"), "mlp_x_f32"), Tolerance());
}

// An AOTInductor package received from rank 0 lies in no file of the rank's
// own: the engine writes it to a temporary one for the loader. (Ranks that
// read the job's own file load it from there.)
TEST_F(NoSharedFilesystem, AnAotiPackageIsSentToRanksThatCannotReadIt) {
  if (!MPSBATCH_HAVE_AOTI) GTEST_SKIP() << "this libtorch has no AOTInductor";
  auto r = Run(WriteJob(dir_, "mlp_aoti.pt2", "[x_f32]"), {});
  EXPECT_RUN_OK(r);
  EXPECT_NE(r.output.find("(aoti)"), std::string::npos) << r.output;
  ExpectNear(ReadFloats(Out(), "y"), ReadFloats(Fixture("reference.h5"), "mlp_aoti_x_f32"), Tolerance());
}

TEST_F(NoSharedFilesystem, SharedModeIsRefusedNamingTheRank) {
  auto r = Run(WriteJob(dir_, "mlp.pt", "[x_f32]"), {"--set", "input.mode=shared"});
  EXPECT_EQ(r.exit_code, 4) << r.output;
  EXPECT_NE(r.output.find("rank 1 failed in choose-input-mode: input error: input.mode is shared"), std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(Out()));
}

// Ranks 1.. see another model at the job's model path (a bind mount in their
// own mount namespace): on rank 0's host but a different file, so its
// identity differs, its SHA-256 too, and rank 0 sends its own copy.
TEST_F(NoSharedFilesystem, ARankWithAnotherModelAtThePathGetsRankZeros) {
  const fs::path models = dir_ / "models", other = dir_ / "other";
  fs::create_directories(models);
  fs::create_directories(other);
  fs::copy_file(Fixture("mlp.pt"), models / "mlp.pt");
  fs::copy_file(Fixture("two_outputs.pt"), other / "mlp.pt");
  const fs::path job = WriteJob(dir_, "mlp.pt", "[x_f32]");
  std::string text = testing::ReadFile(job.string());
  text.replace(text.find(Fixture("mlp.pt")), Fixture("mlp.pt").size(), (models / "mlp.pt").string());
  testing::WriteFile(job, text);
  auto argv = MpirunArgs(1, job);
  const auto tail = MpsbatchArgs(job, {});
  argv.insert(argv.end(), {":", MPSBATCH_NUMPROC_FLAG, "2", std::string(MPSBATCH_TESTS_DIR) + "/bind_dir.sh",
                           other.string(), models.string()});
  argv.insert(argv.end(), tail.begin(), tail.end());
  auto r = Spawn(argv, dir_ / "run.log", 120);
  EXPECT_RUN_OK(r);
  EXPECT_NE(r.output.find("differs from rank 0's copy; using rank 0's"), std::string::npos) << r.output;
  ExpectNear(ReadFloats(Out(), "y"), ReadFloats(Fixture("reference.h5"), "mlp_x_f32"), Tolerance());
}

// --- Errors a user can cause: one message, its exit code, no hang, no file. ---

struct ErrorCase {
  const char* name;
  std::string job;  // job file text; "{F}" stands for the fixtures folder
  std::vector<std::string> args;
  int exit_code;
  const char* message;
};
// ctest shows the case by name, not as bytes.
void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.name; }

std::string Expand(std::string text) {
  for (size_t at; (at = text.find("{F}")) != std::string::npos;) text.replace(at, 3, kFixtures);
  return text;
}

const std::string kGood = "model: {path: {F}/mlp.pt}\ndevice: " + TestDevice() +
                          "\nbatch_size: 8\n"
                          "input: {path: {F}/inputs.h5, dataset: x_f32}\noutput: {path: out.h5, datasets: [y]}\n";

std::vector<ErrorCase> ErrorCases() {
  return {
      {"MalformedYaml", "model: {path: [oops\n", {}, 3, "job.yaml:"},
      {"UnknownKey", kGood + "batch_sise: 3\n", {}, 3, "batch_sise: unknown key (did you mean 'batch_size'?)"},
      {"WrongType", kGood, {"--set", "batch_size=many"}, 3, "batch_size: expected an integer"},
      {"MissingRequiredKey",
       "model: {path: {F}/mlp.pt}\ninput: {path: {F}/inputs.h5, dataset: x_f32}\n",
       {},
       3,
       "output: required key is missing"},
      {"MissingModelFile", kGood, {"--set", "model.path={F}/missing.pt"}, 5, "file not found"},
      {"ModelPathIsAFolder", kGood, {"--set", "model.path={F}"}, 5, "is a folder, not a model file"},
      {"NotAModel", kGood, {"--set", "model.path={F}/not_a_model.pt"}, 5, "not a loadable TorchScript model"},
      {"ModelReturnsADict", kGood, {"--set", "model.path={F}/returns_dict.pt"}, 5, "expects a tensor"},
      {"OutputCountMismatch",
       kGood,
       {"--set", "output.datasets=[a, b]"},
       5,
       "returns 1 output(s) but output.datasets names 2"},
      {"InputShapeDoesNotFitModel", kGood, {"--set", "input.dataset=x_wrong_shape"}, 5, "cannot run on the input"},
      {"MissingInputFile", kGood, {"--set", "input.path={F}/missing.h5"}, 4, "file not found"},
      {"MissingDataset", kGood, {"--set", "input.dataset=nope"}, 4, "dataset 'nope' not found"},
      {"ZeroRows", kGood, {"--set", "input.dataset=x_empty"}, 4, "zero rows"},
      {"UnsupportedDtype", kGood, {"--set", "input.dataset=x_u32"}, 4, "unsupported type uint32"},
      {"StringDataset", kGood, {"--set", "input.dataset=strings"}, 4, "unsupported type string"},
      {"GroupNotDataset", kGood, {"--set", "input.dataset=group"}, 4, "is not a dataset"},
      {"RowCountsDisagree",
       "model: {path: {F}/two_inputs.pt}\ninput: {path: {F}/inputs.h5, datasets: [ids, mask_short]}\n"
       "output: {path: out.h5, datasets: [y]}\n",
       {},
       4,
       "disagree on the number of rows"},
      {"OutputFolderBlockedByAFile",
       kGood,
       {"--set", "output.path={F}/inputs.h5/sub/out.h5"},
       7,
       "inputs.h5 is a file, not a folder"},
      // Nothing can be created in sysfs, not even by root.
      {"OutputFolderUnwritable", kGood, {"--set", "output.path=/sys/out.h5"}, 7, "folder /sys is not writable"},
      {"MpsOnAHostWithoutIt", kGood, {"--set", "device=mps"}, 6, "device: mps was asked for"},
      {"LayoutNeedsFourDimensions", kGood, {"--set", "input.layout=nhwc"}, 3, "input.layout: nhwc needs 4-d"},
      {"MeanPerChannelCountWrong", kGood, {"--set", "input.mean=[0.5, 0.5]"}, 3, "input.mean: 2 values"},
      {"StdZero", kGood, {"--set", "input.std=0"}, 3, "input.std: values must be non-zero"},
      {"IntegerDtypeWithMean",
       kGood,
       {"--set", "input.dtype=uint8", "--set", "input.mean=0.5"},
       3,
       "input.dtype: uint8 is an integer type"},
      {"AotiPathWithoutAPackage", kGood, {"--set", "path=aoti"}, 3, "aoti needs an AOTInductor package"},
      {"CompiledIsNotAPackage",
       kGood,
       {"--set", "model.compiled={F}/mlp.pt"},
       3,
       "model.compiled: expected an AOTInductor package"},
      {"UnknownPath", kGood, {"--set", "path=fast"}, 3, "'fast' is not one of auto | eager"},
      {"FailureInTheMiddleOfTheRun",
       kGood,
       {"--set", "model.path={F}/poisoned.pt", "--set", "input.dataset=x_poisoned", "--set", "chunk_size=8"},
       5,
       "poisoned row in batch"},
  };
}

class UserErrors : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(UserErrors, ClearMessageNonZeroExitNoHangNoFile) {
  SilenceHdf5Errors();
  const ErrorCase& c = GetParam();
  const auto dir = testing::TestDir();
  testing::WriteFile(dir / "job.yaml", Expand(c.job));
  std::vector<std::string> args;
  for (const auto& a : c.args) args.push_back(Expand(a));
  // Rank-count 3 so failures on ranks other than 0 are exercised too.
  auto r = RunMpsbatch(3, dir / "job.yaml", args, 60);
  EXPECT_EQ(r.exit_code, c.exit_code) << r.output;
  EXPECT_NE(r.output.find(c.message), std::string::npos) << r.output;
  EXPECT_LT(r.seconds, 30) << r.output;
  EXPECT_FALSE(fs::exists(dir / "out.h5"));
}

INSTANTIATE_TEST_SUITE_P(E2E, UserErrors, ::testing::ValuesIn(ErrorCases()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST_F(E2E, CudaOnAHostWithoutItIsAnError) {
  const auto job = WriteJob(dir_, "mlp.pt", "[x_f32]", "[y]", "");
  auto probe = RunMpsbatch(1, job, {"--set", "device=auto", "--dry-run"});
  if (probe.output.find("on cuda") != std::string::npos) GTEST_SKIP() << "this host has CUDA";
  auto r = RunMpsbatch(2, job, {"--set", "device=cuda"});
  EXPECT_EQ(r.exit_code, 6) << r.output;
  EXPECT_NE(r.output.find("device: cuda was asked for"), std::string::npos) << r.output;
}

TEST_F(E2E, ExistingOutputIsLeftUntouchedWithoutOverwrite) {
  testing::WriteFile(Out(), "precious");
  auto r = RunMpsbatch(2, WriteJob(dir_, "mlp.pt", "[x_f32]"));
  EXPECT_EQ(r.exit_code, 7) << r.output;
  EXPECT_NE(r.output.find("exists; set output.overwrite: true"), std::string::npos) << r.output;
  EXPECT_EQ(testing::ReadFile(Out()), "precious");
}

TEST_F(E2E, UsageErrors) {
  auto r = Spawn({MPSBATCH_BIN}, dir_ / "log", 60);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("no job file given"), std::string::npos) << r.output;
  auto missing = RunMpsbatch(2, dir_ / "missing.yaml");
  EXPECT_EQ(missing.exit_code, 3) << missing.output;
  EXPECT_NE(missing.output.find("cannot read the job file"), std::string::npos) << missing.output;
}

}  // namespace mpsbatch
