#include "run/job_runner.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include "comm/outlive.h"
#include "common/file_identity.h"
#include "common/log.h"
#include "common/sha256.h"
#include "common/stop_signal.h"
#include "config/job.h"
#include "infer/engine.h"
#include "mpsbatch/version.h"
#include "plan/chunk_plan.h"
#include "plan/job_plan.h"
#include "read/input_file.h"
#include "read/input_sources.h"
#include "run/calibrate.h"
#include "run/rank_loop.h"
#include "write/journal.h"
#include "write/output_lock.h"
#include "write/result_writer.h"

namespace mpsbatch {

namespace {

constexpr int kTagModel = 201;
constexpr size_t kModelPiece = size_t{256} << 20;

// Seconds from this process's start to now: loading its libraries (libtorch's
// take most), MPI's start-up. Linux only (nullopt elsewhere); 10 ms steps.
std::optional<double> SecondsSinceProcessStart() {
#if defined(__linux__)
  std::ifstream stat("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto paren = text.rfind(')');  // the command name may hold spaces
  if (paren == std::string::npos || paren + 2 > text.size()) return std::nullopt;
  std::istringstream fields(text.substr(paren + 2));
  std::string skipped;
  for (int field = 3; field < 22; ++field) fields >> skipped;  // state .. itrealvalue
  unsigned long long start_ticks = 0;                          // field 22: starttime
  timespec now{};
  const long ticks_per_second = sysconf(_SC_CLK_TCK);
  if (!(fields >> start_ticks) || ticks_per_second <= 0 || clock_gettime(CLOCK_BOOTTIME, &now) != 0)
    return std::nullopt;
  return static_cast<double>(now.tv_sec) + now.tv_nsec * 1e-9 -
         static_cast<double>(start_ticks) / static_cast<double>(ticks_per_second);
#else
  return std::nullopt;
#endif
}

std::string Timestamp() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// The whole file, read into a string of its size. (An ostringstream grows and
// copies as it goes; with it, and the engine's copy into an istringstream,
// scripts/bench/startup.sh's 100 MB model planned in 0.37 s, against 0.21 s.)
std::shared_ptr<const std::string> ReadModelFile(const std::string& path, const std::string& key = "model.path",
                                                 std::string* identity = nullptr) {
  const std::string where = key + " '" + path + "': ";
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (status.type() == std::filesystem::file_type::not_found) throw ModelError(where + "file not found");
  if (ec) throw ModelError(where + "cannot look at the file: " + ec.message());
  if (std::filesystem::is_directory(status)) throw ModelError(where + "is a folder, not a model file");
  if (!std::filesystem::is_regular_file(status)) throw ModelError(where + "is not a regular file");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw ModelError(where + "cannot open the file: " + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  // Size and identity of the file opened, not of whatever the path names by
  // now.
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw ModelError(where + "cannot read the file: " + std::strerror(errno));
  const std::string before = identity ? FileIdentityOfOpenFile(fd) : "";
  std::string bytes(static_cast<size_t>(st.st_size), '\0');
  size_t at = 0;
  while (at < bytes.size()) {
    const ssize_t n = ::pread(fd, bytes.data() + at, bytes.size() - at, static_cast<off_t>(at));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw ModelError(where + "cannot read the file: " + std::strerror(errno));
    if (n == 0) throw ModelError(where + "changed while being read (shorter than its size)");
    at += static_cast<size_t>(n);
  }
  char more = 0;
  if (::pread(fd, &more, 1, static_cast<off_t>(at)) > 0) throw ModelError(where + "changed while being read (longer)");
  // The identity of what was read: "" if the file changed meanwhile.
  if (identity) *identity = before == FileIdentityOfOpenFile(fd) ? before : "";
  return std::make_shared<const std::string>(std::move(bytes));
}

// Cores this process may run on: its affinity mask where the launcher bound
// it (mpirun binds each of 1 or 2 processes to one core by default), else the
// host's.
int UsableCores() {
  const int host = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::clamp(CPU_COUNT(&set), 1, host);
#endif
  return host;
}

EngineOptions MakeEngineOptions(const JobConfig& job, const Communicator& comm) {
  EngineOptions o;
  o.device = job.device;
  o.local_rank = comm.local_rank();
  const int host = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  o.threads = job.threads > 0 ? job.threads : std::max(1, std::min(UsableCores(), host / comm.local_size()));
  o.precision = job.precision;
  o.input_dtype = job.input.dtype;
  o.input_scale = job.input.scale;
  o.input_mean = job.input.mean;
  o.input_std = job.input.std;
  o.input_layout = job.input.layout;
  o.output_dtype = job.output.dtype;
  o.output_names = job.output.datasets;
  o.input_names = job.input.datasets;
  o.path = job.path;
  return o;
}

ReadOptions MakeReadOptions(const JobConfig& job) {
  return {job.input.read_direct, job.input.read_threads > 0 ? job.input.read_threads : std::min(4, UsableCores())};
}

// Rows per batch while planning (the probe, chunk rounding) and the bound for
// batch_size: auto, whose search stays under kAutoBatchBytes of input and
// output per batch.
constexpr int64_t kAutoBatchPlanning = 256;
constexpr int64_t kAutoBatchMax = 4096;
constexpr int64_t kAutoBatchBytes = int64_t{64} << 20;  // rank 0 sends these rows to every rank

int64_t PlanningBatch(const JobConfig& job) { return job.batch_size_auto ? kAutoBatchPlanning : job.batch_size; }

int64_t AutoBatchBound(const JobPlan& plan) {
  const int64_t row = std::max<int64_t>(1, static_cast<int64_t>(plan.input_row_bytes() + plan.output_row_bytes()));
  return std::clamp<int64_t>(kAutoBatchBytes / row, 1, kAutoBatchMax);
}

// input.mean, input.std and input.layout against the datasets they apply to.
void CheckNormalisation(const JobConfig& job, const JobPlan& plan) {
  for (const auto& in : plan.inputs) {
    const Shape& shape = in.shape;  // [rows, ...]
    if (job.input.layout == InputLayout::kNhwc && shape.size() != 4)
      throw ConfigError("input.layout: nhwc needs 4-d datasets (rows, height, width, channels); '" + in.name + "' in " +
                        job.input.path + " is " + ShapeString(shape));
    for (const auto& [key, values] : {std::pair<const char*, const std::vector<double>&>{"input.mean", job.input.mean},
                                      {"input.std", job.input.std}}) {
      if (values.size() <= 1) continue;
      if (shape.size() < 2)
        throw ConfigError(std::string(key) + ": " + std::to_string(values.size()) + " per-channel values, but '" +
                          in.name + "' is " + ShapeString(shape) + " and has no channel dimension");
      const int64_t channels = job.input.layout == InputLayout::kNhwc ? shape[3] : shape[1];
      if (channels != static_cast<int64_t>(values.size()))
        throw ConfigError(std::string(key) + ": " + std::to_string(values.size()) + " values for '" + in.name + "' " +
                          ShapeString(shape) + ", which has " + std::to_string(channels) + " channels" +
                          (job.input.layout == InputLayout::kNchw && shape.size() == 4 &&
                                   shape[3] == static_cast<int64_t>(values.size())
                               ? " (stored channels-last? set input.layout: nhwc)"
                               : ""));
    }
  }
}

// "cpu x3, cuda:0 x1" from every rank's device name.
std::string SummarizeDevices(const std::vector<std::string>& names) {
  std::map<std::string, int> counts;
  for (const auto& n : names) ++counts[n];
  std::string s;
  for (const auto& [name, n] : counts) s += (s.empty() ? "" : ", ") + name + " x" + std::to_string(n);
  return s;
}

// Everything rank 0 learns while planning.
struct Planned {
  JobConfig job;
  JobPlan plan;
  std::shared_ptr<const std::string> model_bytes;
  std::shared_ptr<const std::string> compiled_bytes;  // model.compiled, if any
  std::string model_identity, compiled_identity;      // FileIdentity of the file the bytes came from ("" none)
  std::unique_ptr<InputFile> input;
  std::unique_ptr<Engine> engine;
  double engine_seconds = 0;                // rank 0: creating its engine (device, model load)
  double probe_seconds = 0;                 // rank 0: reading and running the probe batch
  std::string identity;                     // rank 0: ResumeIdentity of this run
  FileStamp input_stamp;                    // rank 0: input.path when planned
  std::optional<PartialState> resume;       // rank 0: what an earlier run left, if resuming
  bool restart = false;                     // --restart: discard what an earlier run left
  bool dry_run = false;                     // --dry-run: check, write nothing
  std::unique_ptr<OutputLock> output_lock;  // rank 0: held from planning to the end
};

std::unique_ptr<Engine> CreateEngine(const Planned& p, const Communicator& comm) {
  std::optional<ModelSource> compiled;
  if (p.compiled_bytes) compiled = ModelSource{p.job.model_compiled, p.compiled_bytes, p.compiled_identity};
  return Engine::Create({p.job.model_path, p.model_bytes, p.model_identity}, MakeEngineOptions(p.job, comm), compiled);
}

// The batches the job will feed the model (see BatchSizes): a fixed
// batch_size cuts every chunk into full batches, but for the last, when the
// chunks are multiples of it (the automatic chunk_size is).
BatchSizes FedBatches(const JobConfig& job, const JobPlan& plan) {
  BatchSizes b;
  b.searched = job.batch_size_auto;
  b.largest = std::min(job.batch_size_auto ? AutoBatchBound(plan) : job.batch_size, plan.rows);
  b.uniform = !job.batch_size_auto && plan.rows % job.batch_size == 0 &&
              (job.chunk_size == 0 || job.chunk_size % job.batch_size == 0);
  return b;
}

// Rank 0: inspect the input and the output path, load the model, push one
// probe batch through it, cut the rows into chunks.
void PlanOnRankZero(Communicator& comm, Planned& p) {
  auto& job = p.job;
  p.input = std::make_unique<InputFile>(job.input.path, MakeReadOptions(job));
  p.plan.inputs = InspectInputs(*p.input, job.input.datasets);
  p.plan.rows = p.plan.inputs.front().shape[0];
  p.plan.input_file_size = static_cast<int64_t>(std::filesystem::file_size(job.input.path));
  p.plan.input_sources = InputSourceFiles(*p.input, p.plan.inputs);
  p.plan.mode = job.input.mode;
  if (job.resume && p.restart)
    throw UsageError(
        "--restart discards the chunks an earlier run saved, --resume (resume: true) keeps them: give one");
  std::vector<KeyedPath> reads{{"input.path", job.input.path}, {"model.path", job.model_path}};
  if (!job.model_compiled.empty()) reads.emplace_back("model.compiled", job.model_compiled);
  for (const auto& src : p.plan.input_sources) reads.emplace_back("input.path's " + src.role, src.path);
  CheckOutputFiles(job.output.path, reads);
  CheckOutputPath(job.output.path, job.output.overwrite);
  // Before anything is truncated; a dry run writes nothing and takes none.
  if (!p.dry_run) p.output_lock = std::make_unique<OutputLock>(job.output.path);
  CheckSavedChunksKept(job.output.path, job.resume, p.restart);
  if (job.resume) p.resume = ReadPartial(job.output.path);

  p.model_bytes = ReadModelFile(job.model_path, "model.path", &p.model_identity);
  p.plan.model_size = static_cast<int64_t>(p.model_bytes->size());
  if (!job.model_compiled.empty()) {
    p.compiled_bytes = ReadModelFile(job.model_compiled, "model.compiled", &p.compiled_identity);
    p.plan.compiled_size = static_cast<int64_t>(p.compiled_bytes->size());
  }
  // The hashes (0.1 s for ResNet-50, 0.65 s for BERT and its package) are
  // needed only once the plan is complete: compute them beside the engine's
  // creation and the probe. (On a throw below, the future waits for them.)
  auto hashes = std::async(std::launch::async, [model = p.model_bytes, compiled = p.compiled_bytes] {
    return std::make_pair(Sha256Hex(*model), compiled ? Sha256Hex(*compiled) : std::string());
  });
  CheckNormalisation(job, p.plan);
  const auto t_engine = std::chrono::steady_clock::now();
  p.engine = CreateEngine(p, comm);
  const auto t_probe = std::chrono::steady_clock::now();
  p.engine_seconds = std::chrono::duration<double>(t_probe - t_engine).count();

  // Under batch_size: auto the probe stays small: the search finds the limit.
  const int64_t probe_rows = std::min(job.batch_size_auto ? int64_t{16} : job.batch_size, p.plan.rows);
  std::vector<HostArray> probe_in;
  std::vector<ArrayView> views;
  for (const auto& info : p.plan.inputs) probe_in.push_back(p.input->ReadRows(info, 0, probe_rows));
  for (const auto& a : probe_in) views.push_back(RowSlice(a, 0, probe_rows));
  p.engine->CheckInputs(views, FedBatches(job, p.plan));
  std::vector<HostArray> probe_out;
  try {
    probe_out = p.engine->Run(views);
  } catch (const ModelError& e) {
    throw ModelError(job.model_path + ": the model cannot run on the input (first " + std::to_string(probe_rows) +
                     " rows of " + job.input.path + "): " + e.what());
  }
  p.plan.outputs = OutputSpecsFromProbe(job, probe_out, probe_rows);
  p.probe_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_probe).count();
  std::tie(p.plan.model_sha256, p.plan.compiled_sha256) = hashes.get();
  const auto stamp = StampOf(job.input.path);
  if (!stamp) throw InputError("input.path '" + job.input.path + "': cannot read its modification time");
  p.input_stamp = *stamp;
  p.identity = ResumeIdentity(job, p.plan, stamp->mtime_ns);
  if (p.resume) {
    const std::string difference = IdentityDifference(p.resume->identity, p.identity);
    if (!difference.empty())
      throw ConfigError("cannot resume " + PartialPath(job.output.path) + ": " + difference +
                        "; run with --restart instead of --resume to discard its chunks and start again");
    if (p.resume->chunk_rows > p.plan.rows)
      throw OutputError(PartialPath(job.output.path) + ": records chunks of " + std::to_string(p.resume->chunk_rows) +
                        " rows for " + std::to_string(p.plan.rows) + " rows");
    p.plan.chunk_rows = p.resume->chunk_rows;  // the chunks the journal counts in
    const int64_t chunks = ChunkPlan(p.plan.rows, p.plan.chunk_rows, 1).num_chunks();
    for (int64_t id : p.resume->done)
      if (id < 0 || id >= chunks)
        throw OutputError("cannot resume: " + JournalPath(job.output.path) + " lists chunk " + std::to_string(id) +
                          " of " + std::to_string(chunks) + "; " + StartOverAdvice());
    return;
  }
  // On demand, smaller chunks let fast ranks take over more of a slow one's share.
  const int chunks_per_rank = job.schedule == Schedule::kDynamic ? 16 : 4;
  p.plan.chunk_rows =
      ChooseChunkRows(p.plan.rows, PlanningBatch(job), comm.size(),
                      p.plan.input_row_bytes() + p.plan.output_row_bytes(), job.chunk_size, chunks_per_rank);
}

// Can this rank read the input at rank 0's path, with rank 0's shapes?
std::string InputProblem(const JobConfig& job, const JobPlan& plan, std::unique_ptr<InputFile>& input) {
  try {
    std::error_code ec;
    const auto size = std::filesystem::file_size(job.input.path, ec);
    if (ec) return "cannot see " + job.input.path;
    if (static_cast<int64_t>(size) != plan.input_file_size)
      return job.input.path + " has " + std::to_string(size) + " bytes here, " + std::to_string(plan.input_file_size) +
             " on rank 0";
    input = std::make_unique<InputFile>(job.input.path, MakeReadOptions(job));
    for (const auto& info : plan.inputs)
      if (input->Describe(info.name).shape != info.shape) return "dataset '" + info.name + "' differs from rank 0's";
    const auto sources = InputSourceFiles(*input, plan.inputs);
    for (const auto& src : plan.input_sources) {
      auto it = std::find_if(sources.begin(), sources.end(), [&](const SourceFile& s) { return s.path == src.path; });
      if (it == sources.end()) return "the " + src.role + " " + src.path + " is not among its source files here";
      if (it->stamp.size != src.stamp.size)
        return src.path + " has " + std::to_string(it->stamp.size) + " bytes here, " + std::to_string(src.stamp.size) +
               " on rank 0";
    }
    return "";
  } catch (const Error& e) {
    input.reset();
    return e.what();
  }
}

// Decides shared or scatter, opening the input on every rank that reads it.
void ChooseInputMode(Communicator& comm, Planned& p) {
  std::string problem;
  if (comm.rank() != 0 && p.job.input.mode != InputMode::kScatter) problem = InputProblem(p.job, p.plan, p.input);
  const int64_t failing = comm.AllreduceSum(problem.empty() ? 0 : 1);
  InputMode mode = p.job.input.mode;
  if (mode == InputMode::kAuto) mode = failing == 0 ? InputMode::kShared : InputMode::kScatter;
  Agree(comm, "choose-input-mode", [&] {
    if (mode == InputMode::kShared && !problem.empty())
      throw InputError("input.mode is shared, but this rank (host " + comm.host() + ") cannot read the input: " +
                       problem + ". Use input.mode: scatter (or auto) to have rank 0 send the rows.");
  });
  if (mode == InputMode::kScatter && comm.rank() != 0) p.input.reset();
  if (comm.rank() == 0 && p.job.input.mode == InputMode::kAuto && mode == InputMode::kScatter)
    spdlog::info("input.mode auto: {} rank(s) cannot read {}; rank 0 will send them their rows", failing,
                 p.job.input.path);
  p.plan.mode = mode;
}

// Gives every rank a model file's bytes (`key` names it: model.path or
// model.compiled): read locally where the same file is there, sent by rank 0
// where it is not. A rank on rank 0's host that sees the file rank 0 read
// (`identity`, FileIdentity) takes it as it is; others check its SHA-256
// (BERT's 660 MB take 0.65 s to hash).
void DistributeFile(Communicator& comm, const std::string& key, const std::string& path, const std::string& sha256,
                    int64_t size, std::string& identity, std::shared_ptr<const std::string>& bytes_out) {
  std::string rank0s = identity.empty() ? "" : comm.host() + "\n" + identity;
  comm.Broadcast(rank0s, 0);
  bool have = comm.rank() == 0;
  if (!have) {
    identity.clear();  // until this rank's bytes are its file's
    try {
      std::string mine;
      auto bytes = ReadModelFile(path, key, &mine);
      const bool same_file = !rank0s.empty() && !mine.empty() && rank0s == comm.host() + "\n" + mine;
      if (same_file || Sha256Hex(*bytes) == sha256) {
        bytes_out = bytes;
        identity = mine;
        have = true;
        spdlog::debug("{} '{}': {}", key, path,
                      same_file ? "the file rank 0 read (same host, same file)" : "this host's copy, same SHA-256");
      } else {
        spdlog::warn("{} '{}' differs from rank 0's copy; using rank 0's", key, path);
      }
    } catch (const std::exception& e) {  // any failure to read: rank 0 sends its copy
      spdlog::debug("{} '{}': cannot read it here ({}); rank 0 sends its copy", key, path, e.what());
    }
  }
  const auto have_all = comm.Allgather(have ? 1 : 0);
  for (int r = 1; r < comm.size(); ++r) {
    if (have_all[static_cast<size_t>(r)]) continue;
    if (comm.rank() == 0) {
      const std::string& bytes = *bytes_out;
      for (size_t at = 0; at < bytes.size(); at += kModelPiece) {
        const auto* begin = reinterpret_cast<const std::byte*>(bytes.data()) + at;
        comm.Send(r, kTagModel, Bytes(begin, begin + std::min(kModelPiece, bytes.size() - at)));
      }
    } else if (comm.rank() == r) {
      std::string bytes;
      bytes.reserve(static_cast<size_t>(size));
      while (static_cast<int64_t>(bytes.size()) < size) {
        Bytes piece = comm.Receive(0, kTagModel);
        bytes.append(reinterpret_cast<const char*>(piece.data()), piece.size());
      }
      bytes_out = std::make_shared<const std::string>(std::move(bytes));
    }
  }
}

void DistributeModel(Communicator& comm, Planned& p) {
  DistributeFile(comm, "model.path", p.job.model_path, p.plan.model_sha256, p.plan.model_size, p.model_identity,
                 p.model_bytes);
  if (!p.job.model_compiled.empty())
    DistributeFile(comm, "model.compiled", p.job.model_compiled, p.plan.compiled_sha256, p.plan.compiled_size,
                   p.compiled_identity, p.compiled_bytes);
}

void WriteHeaderAttributes(ResultWriter& w, const Planned& p, const Communicator& comm, const std::string& start,
                           const std::vector<std::string>& devices) {
  w.SetAttribute("job_yaml", p.job.effective_yaml);
  w.SetAttribute("model_path", p.job.model_path);
  w.SetAttribute("model_sha256", p.plan.model_sha256);
  w.SetAttribute("input_path", p.job.input.path);
  w.SetAttribute("input_mode", std::string(InputModeName(p.plan.mode)));
  w.SetAttribute("schedule", std::string(ScheduleName(p.job.schedule)));
  w.SetAttribute("mpsbatch_version", std::string(MPSBATCH_VERSION));
  w.SetAttribute("libtorch_version", LibtorchVersion());
  w.SetAttribute("mpi_version", MpiLibraryVersion());
  w.SetAttribute("hdf5_version", Hdf5LibraryVersion());
  w.SetAttribute("devices", SummarizeDevices(devices));
  w.SetAttribute("precision", std::string(PrecisionName(p.job.precision)));
  w.SetAttribute("ranks", static_cast<int64_t>(comm.size()));
  w.SetAttribute("rows", p.plan.rows);
  w.SetAttribute("start_time", start);
}

void LogSummary(const Planned& p, double total_seconds, double loop_seconds, const std::vector<double>& rows,
                const std::vector<double>& compute, const std::vector<std::string>& paths) {
  double scored = 0;
  for (double r : rows) scored += r;
  spdlog::info("done: {} rows in {:.3f} s ({:.1f} rows/s; scoring {:.3f} s, {:.1f} rows/s) -> {}", p.plan.rows,
               total_seconds, scored / total_seconds, loop_seconds, scored / loop_seconds, p.job.output.path);
  if (p.resume)
    spdlog::info("  {} rows scored now, {} taken from the earlier run's {} chunks", static_cast<int64_t>(scored),
                 p.plan.rows - static_cast<int64_t>(scored), p.resume->done.size());
  for (size_t r = 0; r < rows.size(); ++r)
    spdlog::info("  rank {}: {} rows, compute {:.3f} s ({:.1f} rows/s); {}", r, static_cast<int64_t>(rows[r]),
                 compute[r], compute[r] > 0 ? rows[r] / compute[r] : 0.0, paths[r]);
}

// Rank 0 only: what a resumed run takes over from the earlier one ("" when
// not resuming).
std::string ResumeLine(const Planned& p) {
  if (!p.job.resume) return "";
  if (!p.resume) return "  resume: no partial output at " + PartialPath(p.job.output.path) + "; scoring every row";
  const int64_t chunks = ChunkPlan(p.plan.rows, p.plan.chunk_rows, 1).num_chunks();
  const int64_t done = static_cast<int64_t>(p.resume->done.size());
  return "  resume: " + std::to_string(done) + " of " + std::to_string(chunks) +
         " chunks done by an earlier run; scoring the other " + std::to_string(chunks - done);
}

// Rank 0, before the output is sealed: the input and every file its rows come
// from are as they were when planned. A file rewritten in place during the run
// (HDF5's locks off, or another program) would leave rows of both versions in
// one output.
void CheckInputUnchanged(const Planned& p) {
  auto check = [](const std::string& what, const std::string& path, const FileStamp& then) {
    const auto now = StampOf(path);
    if (now && *now == then) return;
    throw InputError(what + " '" + path + "' changed during the run (" +
                     (now ? "size " + std::to_string(then.size) + " -> " + std::to_string(now->size) +
                                ", modified at " + std::to_string(then.mtime_ns) + " -> " +
                                std::to_string(now->mtime_ns) + " ns"
                          : "it is gone") +
                     "): its rows may mix both versions, so the output is not committed; run the job again once "
                     "the input stays unchanged");
  };
  check("input.path", p.job.input.path, p.input_stamp);
  for (const auto& src : p.plan.input_sources) check("input.path's " + src.role, src.path, src.stamp);
}

// Before the job ends from inside the rank loop: the rows rank 0 has written
// stay in the partial file for a --resume.
// Records what the syncing thread still holds, keeps the partial file and
// journal, closes them and releases the output's lock. Returns the partial
// file's path ("" without a writer: not rank 0, or no output yet).
std::string SaveForResume(std::unique_ptr<ResultWriter>& writer, std::unique_ptr<OutputLock>& lock) {
  std::string partial;
  if (writer) {
    if (const std::string lost = writer->StopSyncing(); !lost.empty())
      spdlog::error("{} (the journal lists the chunks recorded before it)", lost);
    writer->KeepForResume();
    partial = writer->partial_path();
    writer.reset();
  }
  lock.reset();
  return partial;
}

void KeepPartial(std::unique_ptr<ResultWriter>& writer, std::unique_ptr<OutputLock>& lock) {
  if (const std::string partial = SaveForResume(writer, lock); !partial.empty())
    spdlog::info("the rows written so far stay in {}; run again with --resume to score only the rest", partial);
}

// Rank 0, told to stop by a signal while scoring: records every finished
// chunk durably, keeps the partial file for a --resume and ends the process
// by that signal. (mpirun sends SIGKILL odls_base_sigkill_timeout after its
// SIGTERM; a journal cut short by it still lists only durable chunks.)
[[noreturn]] void StopKeepingPartial(std::unique_ptr<ResultWriter>& writer, std::unique_ptr<OutputLock>& lock,
                                     const std::string& output_path, int64_t chunks, int signal) {
  const std::string partial = SaveForResume(writer, lock);
  const int64_t saved = JournalRecordsBySize(JournalPath(output_path));
  spdlog::error("stopped: {} of {} chunks saved in {}; run again with --resume", saved, chunks, partial);
  EndBySignal(signal);
}

}  // namespace

// Whatever escapes the steps below aborts the job by name (a rank unwinding
// into MPI_Finalize while others wait in a collective would hang the job).
void RunJob(Communicator& comm, const CliOptions& cli) try {
  AbortJobOnTerminate(comm);
  struct JoinPrewarm {
    ~JoinPrewarm() { WaitForDevicePrewarm(); }
  } join_prewarm;
  const auto t0 = std::chrono::steady_clock::now();
  const std::optional<double> before_job = SecondsSinceProcessStart();
  const std::string start_time = Timestamp();
  Planned p;
  p.restart = cli.restart;
  p.dry_run = cli.dry_run;

  // 1. The job file, read and validated on rank 0, then the same text on all.
  std::string effective, source = cli.job_path;
  Agree(comm, "read-job", [&] {
    if (comm.rank() == 0) effective = LoadJobFile(cli.job_path, cli.overrides).effective_yaml;
  });
  Collective(comm, "share-job", [&] { comm.Broadcast(effective, 0); });
  Agree(comm, "parse-job", [&] {
    p.job = ParseJobText(effective, source, "/");
    SetLogLevel(EffectiveLogLevel(p.job.log_level, cli.verbosity));
    if (!cli.dry_run || comm.rank() == 0) PrewarmDevice(MakeEngineOptions(p.job, comm));
  });

  // 2. The plan, on rank 0.
  Agree(comm, "plan", [&] {
    if (comm.rank() == 0) PlanOnRankZero(comm, p);
  });
  const auto t_planned = std::chrono::steady_clock::now();
  if (cli.dry_run) {
    if (comm.rank() == 0) {
      std::printf("%s", DescribePlan(p.job, p.plan, comm.size()).c_str());
      if (p.job.resume) std::printf("%s\n", ResumeLine(p).c_str());
      std::printf("model: %s on %s; dry run: nothing written\n", p.engine->format().c_str(),
                  p.engine->device_name().c_str());
    }
    return;
  }
  Collective(comm, "share-plan", [&] {
    std::string plan_bytes = comm.rank() == 0 ? SerializePlan(p.plan) : "";
    comm.Broadcast(plan_bytes, 0);
    if (comm.rank() != 0) p.plan = DeserializePlan(plan_bytes);
  });

  // 3. Input mode, model bytes, engines on the other ranks.
  Collective(comm, "choose-input-mode", [&] { ChooseInputMode(comm, p); });
  Collective(comm, "distribute-model", [&] { DistributeModel(comm, p); });
  Agree(comm, "create-engines", [&] {
    if (comm.rank() != 0) p.engine = CreateEngine(p, comm);
  });
  p.model_bytes.reset();
  p.compiled_bytes.reset();
  std::vector<std::string> devices;
  std::string bound_to_one;
  Collective(comm, "gather-devices", [&] {
    devices = comm.Gather(p.engine->device_name(), 0);
    // Ranks the launcher bound to one core of a host with more.
    const bool one_core = UsableCores() == 1 && std::thread::hardware_concurrency() > 1;
    const auto bound = comm.Gather(one_core ? "1" : "0", 0);
    for (size_t r = 0; r < bound.size(); ++r)
      if (bound[r] == "1") bound_to_one += (bound_to_one.empty() ? "" : ", ") + std::to_string(r);
  });

  // 4. Path selection: one rank per device measures, the others follow.
  const auto t_calibrate = std::chrono::steady_clock::now();
  const auto seconds = [](auto from, auto to) { return std::chrono::duration<double>(to - from).count(); };
  RankCalibration calibration;
  Agree(
      comm, "calibrate",
      [&] {
        calibration = CalibrateRanks(comm, *p.engine, p.job, p.plan, p.input.get(), AutoBatchBound(p.plan),
                                     MakeEngineOptions(p.job, comm).threads);
      },
      StepBody::kCompletesCollectives);
  const double calibration_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_calibrate).count();

  // 5. The output file, on rank 0.
  std::unique_ptr<ResultWriter> writer;
  Agree(comm, "create-output", [&] {
    if (comm.rank() != 0) return;
    if (p.resume) {
      writer = ResultWriter::Reopen(p.job.output.path, p.plan.outputs, p.plan.rows);
      writer->CheckRecordedChunks(p.resume->records);
    } else {
      writer =
          std::make_unique<ResultWriter>(p.job.output.path, p.plan.outputs, p.plan.rows, p.identity, p.plan.chunk_rows);
    }
    WriteHeaderAttributes(*writer, p, comm, start_time, devices);
    writer->SetAttribute("resumed_chunks", static_cast<int64_t>(p.resume ? p.resume->done.size() : 0));
    writer->Flush();  // all metadata on disk before the first row (see result_writer.h)
  });
  const ChunkPlan chunks(p.plan.rows, p.plan.chunk_rows, comm.size());
  if (comm.rank() == 0) {
    std::istringstream lines(DescribePlan(p.job, p.plan, comm.size()));
    for (std::string line; std::getline(lines, line);) spdlog::info("{}", line);
    spdlog::info("  engines: {} ({}), {} intra-op thread(s) per rank", SummarizeDevices(devices), p.engine->format(),
                 MakeEngineOptions(p.job, comm).threads);
    for (const auto& info : p.plan.inputs) spdlog::info("  input '{}': read {}", info.name, p.input->ReadMethod(info));
    if (!bound_to_one.empty())
      spdlog::warn(
          "rank(s) {} may run on one core only, which their reading, sending and computing threads then share "
          "(mpirun binds 1 or 2 processes to a core each by default): launch with mpirun --bind-to none, or "
          "--map-by slot:PE=<cores per rank>",
          bound_to_one);
    spdlog::info(
        "  start-up: {:.2f} s to plan (rank 0's engine {:.2f} s, probe {:.2f} s), {:.2f} s for the model and "
        "engines on every rank",
        seconds(t0, t_planned), p.engine_seconds, p.probe_seconds, seconds(t_planned, t_calibrate));
    spdlog::info("  calibration: {:.2f} s; rank 0: {}", calibration_seconds, CalibrationLine(calibration, 0));
    if (p.job.resume) spdlog::info("{}", ResumeLine(p));
  }

  // 6. Score. From here a failing rank aborts the job. Rank 0 hands out
  // chunks by the depth every rank holds to, so they agree on it.
  size_t depth = 0;
  Collective(comm, "agree-depth", [&] {
    depth = static_cast<size_t>(comm.AllreduceMax(static_cast<int64_t>(ChunksInFlight(
        p.plan.chunk_rows, calibration.report.batch_size,
        static_cast<size_t>(p.plan.chunk_rows) * (p.plan.input_row_bytes() + p.plan.output_row_bytes())))));
  });
  const auto t_loop = std::chrono::steady_clock::now();
  RankStats stats;
  Collective(
      comm, "score",
      [&] {
        std::optional<StopSignals> stop_signals;  // rank 0 saves what is finished; the others have nothing to save
        if (comm.rank() == 0) stop_signals.emplace();
        std::vector<bool> done;
        if (p.resume) {
          done.assign(static_cast<size_t>(chunks.num_chunks()), false);
          for (int64_t id : p.resume->done) done[static_cast<size_t>(id)] = true;
        }
        ComputeSettings compute;
        compute.batch_size = calibration.report.batch_size;
        compute.fail_on_nonfinite = p.job.fail_on_nonfinite;
        try {
          stats = RunRankLoop({comm, *p.engine, p.plan, chunks, compute, p.input.get(), writer.get(), depth,
                               p.job.schedule, std::move(done), p.job.stall_timeout});
          if (comm.rank() == 0) ThrowIfStopSignalled();
        } catch (const StopRequested& s) {
          StopKeepingPartial(writer, p.output_lock, p.job.output.path, chunks.num_chunks(), s.signal());
        }
      },
      [&] { KeepPartial(writer, p.output_lock); });
  const auto t_end = std::chrono::steady_clock::now();
  std::vector<double> rows, compute;
  std::vector<std::string> paths;
  int64_t nonfinite = 0, first_row = 0;
  std::vector<std::string> processes;  // rank 0: every rank's host and pid
  Collective(comm, "gather-stats", [&] {
    rows = comm.Gather(static_cast<double>(stats.rows), 0);
    compute = comm.Gather(stats.compute_seconds, 0);
    paths = comm.Gather(CalibrationLine(calibration, comm.rank()), 0);
    nonfinite = comm.AllreduceSum(stats.nonfinite.values);
    first_row = comm.AllreduceMin(stats.nonfinite.first_row < 0 ? p.plan.rows : stats.nonfinite.first_row);
    processes = GatherProcesses(comm);
  });
  if (comm.rank() == 0 && nonfinite > 0)
    spdlog::warn(
        "the outputs hold {} non-finite value(s) (NaN or Inf), the first in row {}; set fail_on_nonfinite: "
        "true to make that an error",
        nonfinite, first_row);

  // 7. Commit the output, once every rank has agreed that all went well (a
  // rank failing beside the rename would leave a finished output behind a
  // failed job): rank 0 seals the file, all ranks agree, the others end MPI
  // and exit, and only then does rank 0 move the file into place, so that no
  // other process of its host can fail the job once the output is there
  // (comm/outlive.h).
  Agree(comm, "commit", [&] {
    if (comm.rank() != 0) return;
    CheckInputUnchanged(p);
    writer->SetAttribute("nonfinite_values", nonfinite);
    std::string all;
    for (size_t r = 0; r < paths.size(); ++r) all += "rank " + std::to_string(r) + ": " + paths[r] + "\n";
    writer->SetAttribute("paths", all);
    writer->SetAttribute("end_time", Timestamp());
    writer->Seal();
  });
  if (const int running = FinalizeAndOutlive(comm, processes, std::chrono::seconds(5)); running > 0)
    spdlog::debug("{} rank(s) of this host still running 5 s after the end of MPI; publishing the output", running);
  if (comm.rank() == 0) {
    try {
      writer->Publish(p.job.output.overwrite);
    } catch (const Error& e) {
      spdlog::error("rank 0 failed: {}: {}", ErrorKindName(e.kind()), e.what());
      throw JobFailed(e.kind());
    }
    LogSummary(p, std::chrono::duration<double>(t_end - t0).count(),
               std::chrono::duration<double>(t_end - t_loop).count(), rows, compute, paths);
    spdlog::info(
        "  time: {}plan {:.2f} s, engines {:.2f} s, calibration {:.2f} s, output file {:.2f} s, scoring {:.2f} s, "
        "finishing {:.2f} s",
        before_job ? fmt::format("{:.2f} s before the job (process start, libraries, MPI start), ", *before_job) : "",
        seconds(t0, t_planned), seconds(t_planned, t_calibrate), calibration_seconds,
        seconds(t_calibrate, t_loop) - calibration_seconds, seconds(t_loop, t_end),
        seconds(t_end, std::chrono::steady_clock::now()));
  }
} catch (const JobFailed&) {
  throw;  // agreed, and reported, by every rank
} catch (...) {
  AbortJob(comm, "job", CurrentFailure());
}

}  // namespace mpsbatch
