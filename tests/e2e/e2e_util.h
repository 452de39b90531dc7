// Helpers shared by the end-to-end test binaries: run the mpsbatch binary
// through mpiexec (FindMPI's MPIEXEC_* settings) with a time limit, write job
// files for the fixtures of tests/fixtures/make_fixtures.py, read outputs back.
// Each e2e_*_test.cpp includes it once; everything here is inline.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iomanip>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "hdf5/handle.h"
#include "read/input_file.h"
#include "test_util.h"
#include "write/journal.h"

namespace mpsbatch::e2e {

namespace fs = std::filesystem;

inline const std::string kFixtures = MPSBATCH_FIXTURES;

inline std::string Fixture(const std::string& name) { return kFixtures + "/" + name; }

// The device the jobs ask for: cpu, or cuda / mps where the host has one
// (CMake's MPSBATCH_TEST_DEVICE, which also picks the device the AOTInductor
// fixture is compiled for; docs/gpu.md sets cuda), and how far from the
// references that device may land (MPSBATCH_TEST_TOLERANCE, default 1e-5).
inline std::string TestDevice() { return MPSBATCH_TEST_DEVICE_DEFAULT; }
inline double Tolerance() {
  const char* t = std::getenv("MPSBATCH_TEST_TOLERANCE");
  return t && *t ? std::stod(t) : 1e-5;
}

struct RunResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
  double seconds = 0;
};

inline std::vector<std::string> Words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// Starts argv in its own process group, stdout and stderr to `log`.
inline pid_t Start(const std::vector<std::string>& argv, const fs::path& log) {
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    int null = open("/dev/null", O_RDONLY);
    dup2(null, 0);
    // Open MPI refuses root (CI containers) and more ranks than cores unless told.
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 1);
    // calibration_cache: auto keeps its entries beside the test's files, not
    // in the user's cache, so every test starts without them.
    setenv("XDG_CACHE_HOME", (log.parent_path() / "cache").c_str(), 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  return pid;
}

// True while a Start()ed process has not exited (it is not reaped here).
inline bool Running(pid_t pid) {
  siginfo_t info{};
  return waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == 0;
}

// Waits until the running job's `journal` lists `records` chunks; false if
// the job ended or 60 s passed first.
inline bool WaitForJournalRecords(pid_t pid, const fs::path& journal, int64_t records) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (JournalRecordsBySize(journal.string()) < records) {
    if (!Running(pid) || std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// Waits for a Start()ed process; past the time limit it is killed and
// reported as hung.
inline RunResult Wait(pid_t pid, const fs::path& log, int timeout_s) {
  const auto start = std::chrono::steady_clock::now();
  RunResult r;
  int status = 0;
  while (true) {
    if (waitpid(pid, &status, WNOHANG) == pid) break;
    if (std::chrono::steady_clock::now() - start > std::chrono::seconds(timeout_s)) {
      killpg(pid, SIGKILL);
      waitpid(pid, &status, 0);
      r.output = "(killed after " + std::to_string(timeout_s) + " s: the run hung)\n";
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.output += testing::ReadFile(log);
  return r;
}

// Runs argv with a time limit; a run past it is killed and reported as hung.
inline RunResult Spawn(const std::vector<std::string>& argv, const fs::path& log, int timeout_s) {
  return Wait(Start(argv, log), log, timeout_s);
}

inline std::vector<std::string> MpiexecPrefix(int ranks) {
  std::vector<std::string> argv{MPSBATCH_MPIEXEC, MPSBATCH_NUMPROC_FLAG, std::to_string(ranks)};
  for (const auto& w : Words(MPSBATCH_PREFLAGS)) argv.push_back(w);
  return argv;
}

inline std::vector<std::string> MpsbatchArgs(const fs::path& job, const std::vector<std::string>& args) {
  std::vector<std::string> argv{MPSBATCH_BIN, job.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  for (const auto& w : Words(MPSBATCH_POSTFLAGS)) argv.push_back(w);
  return argv;
}

// The command line of `ranks` ranks of mpsbatch on `job`: mpiexec's prefix,
// then mpsbatch's arguments.
inline std::vector<std::string> MpirunArgs(int ranks, const fs::path& job, const std::vector<std::string>& args = {}) {
  auto argv = MpiexecPrefix(ranks);
  auto tail = MpsbatchArgs(job, args);
  argv.insert(argv.end(), tail.begin(), tail.end());
  return argv;
}

inline RunResult RunMpsbatch(int ranks, const fs::path& job, const std::vector<std::string>& args = {},
                             int timeout_s = 120) {
  return Spawn(MpirunArgs(ranks, job, args), job.parent_path() / ("run-" + std::to_string(ranks) + ".log"), timeout_s);
}

// A job file in `dir` for a model and input datasets from the fixtures.
inline fs::path WriteJob(const fs::path& dir, const std::string& model, const std::string& datasets,
                         const std::string& outputs = "[y]", const std::string& extra = "") {
  const fs::path job = dir / "job.yaml";
  testing::WriteFile(job, "model:\n  path: " + Fixture(model) + "\ndevice: " + TestDevice() +
                              "\nbatch_size: 8\nchunk_size: 16\n" + "input:\n  path: " + Fixture("inputs.h5") +
                              "\n  datasets: " + datasets + "\noutput:\n  path: out.h5\n  datasets: " + outputs + "\n" +
                              extra);
  return job;
}

// A per-input job of hang.pt (twice the first two pixels of each row, after
// 0.1-0.3 s of work a batch on a CPU) over the files `input`, one output per
// file in `out`, batches of `batch` rows in chunks of 2, one thread a rank.
inline fs::path WritePerInputHangJob(const fs::path& dir, const std::string& input, const fs::path& out, int batch) {
  const fs::path job = dir / "job.yaml";
  testing::WriteFile(job, "model:\n  path: " + Fixture("hang.pt") + "\ndevice: " + TestDevice() +
                              "\nthreads: 1\nbatch_size: " + std::to_string(batch) +
                              "\nchunk_size: 2\npath: eager\ninput:\n  path: " + input +
                              "\n  datasets: [x]\noutput:\n  path: " + (out / "{stem}.h5").string() +
                              "\n  per_input: true\n  datasets: [y]\n");
  return job;
}

inline std::vector<float> ReadFloats(const std::string& path, const std::string& dataset) {
  InputFile f(path);
  DatasetInfo info = f.Describe(dataset);
  EXPECT_EQ(info.dtype, DType::kFloat32);
  HostArray a = f.ReadRows(info, 0, info.shape[0]);
  std::vector<float> v(a.bytes.size() / sizeof(float));
  std::memcpy(v.data(), a.bytes.data(), a.bytes.size());
  return v;
}

// Dataset `dataset` of `path` as raw bytes, for bitwise comparisons.
inline std::string ReadFloatsBytes(const std::string& path, const std::string& dataset) {
  const std::vector<float> v = ReadFloats(path, dataset);
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

inline void ExpectNear(const std::vector<float>& got, const std::vector<float>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_TRUE(std::isfinite(got[i])) << "element " << i;
    worst = std::max(worst, static_cast<double>(std::fabs(got[i] - want[i])));
  }
  EXPECT_LE(worst, tol);
}

inline std::string StringAttribute(const std::string& path, const std::string& name) {
  H5Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  return ReadStringAttribute(file.get(), name.c_str()).value_or("(missing)");
}

inline int64_t IntAttribute(const std::string& path, const std::string& name) {
  H5Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  return ReadIntAttribute(file.get(), name.c_str()).value_or(-1);
}

class E2E : public ::testing::Test {
 protected:
  void SetUp() override {
    SilenceHdf5Errors();
    dir_ = testing::TestDir();
  }
  std::string Out() const { return (dir_ / "out.h5").string(); }
  fs::path dir_;
};

#define EXPECT_RUN_OK(r) ASSERT_EQ((r).exit_code, 0) << (r).output

// The pids of the live processes whose command line holds `needle`, with the
// MPI rank Open MPI gave each (OMPI_COMM_WORLD_RANK; -1 when absent).
// A file of /proc/PID, or "" when the process is gone (its files then fail
// to read, with ESRCH, and libstdc++'s stream throws).
inline std::string ReadProcFile(const fs::path& path) {
  try {
    return testing::ReadFile(path);
  } catch (const std::exception&) {
    return "";
  }
}

inline std::vector<std::pair<pid_t, int>> RankProcesses(const std::string& needle) {
  std::vector<std::pair<pid_t, int>> found;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline = ReadProcFile(entry.path() / "cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (cmdline.find(needle) == std::string::npos || cmdline.find(MPSBATCH_BIN) != 0) continue;
    int rank = -1;
    std::string env = ReadProcFile(entry.path() / "environ");
    const std::string key = std::string("OMPI_COMM_WORLD_RANK=");
    for (size_t at = 0; at < env.size(); at = env.find('\0', at) + 1) {
      if (env.compare(at, key.size(), key) == 0) rank = std::atoi(env.c_str() + at + key.size());
      if (env.find('\0', at) == std::string::npos) break;
    }
    found.emplace_back(static_cast<pid_t>(std::stoi(name)), rank);
  }
  return found;
}

// Waits until no process runs `needle` any more (the ranks of a job mpirun
// has ended may take a moment to exit); false after 10 s.
inline bool WaitForNoRanks(const std::string& needle) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!RankProcesses(needle).empty()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// The output of hang.pt and raise_or_hang.pt (tests/fixtures) for the rows
// of `input`: twice the first two pixels of each 64-value row.
inline std::vector<float> TwiceTheFirstTwoPixels(const std::string& input) {
  const std::vector<float> x = ReadFloats(input, "x");
  std::vector<float> y;
  for (size_t row = 0; row < x.size() / 64; ++row) {
    y.push_back(x[row * 64] * 2.0f);
    y.push_back(x[row * 64 + 1] * 2.0f);
  }
  return y;
}

// The per-input outputs' names in `dir` for `files` inputs part-0000.h5, ...,
// as output.path's {stem}.h5 names them.
inline std::vector<std::string> PerInputOutputs(const fs::path& dir, size_t files) {
  std::vector<std::string> out;
  for (size_t i = 0; i < files; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "part-%04zu.h5", i);
    out.push_back((dir / name).string());
  }
  return out;
}

// The time spdlog stamped on the first line holding `needle`
// ("[2026-11-27 16:00:00.123] [rank 0] [info] ..."), local time.
inline std::optional<std::chrono::system_clock::time_point> LoggedAt(const std::string& output,
                                                                     const std::string& needle) {
  const size_t hit = output.find(needle);
  if (hit == std::string::npos) return std::nullopt;
  const size_t line = output.rfind('\n', hit) + 1;  // npos + 1 == 0
  if (output.compare(line, 1, "[") != 0) return std::nullopt;
  std::tm tm{};
  std::istringstream in(output.substr(line + 1, 23));
  in >> std::get_time(&tm, "%Y-%m-%d %H:%M:%S");
  if (in.fail()) return std::nullopt;
  tm.tm_isdst = -1;
  const int millis = std::atoi(output.c_str() + line + 21);
  return std::chrono::system_clock::from_time_t(std::mktime(&tm)) + std::chrono::milliseconds(millis);
}

// How often `needle` occurs in `text`.
inline size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

}  // namespace mpsbatch::e2e
