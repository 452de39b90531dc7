#include "plan/plan_job.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <future>
#include <tuple>
#include <utility>
#include <vector>

#include "common/error.h"
#include "common/fault.h"
#include "common/log.h"
#include "common/sha256.h"
#include "common/terminal.h"
#include "plan/chunk_plan.h"
#include "plan/feed_hint.h"
#include "plan/job_options.h"
#include "plan/model_file.h"
#include "plan/resume_identity.h"
#include "plan/shard_outputs.h"
#include "read/input_sources.h"
#include "write/journal.h"
#include "write/output_lock.h"
#include "write/output_origin.h"
#include "write/result_writer.h"

namespace mpsbatch {

namespace {

// Rows per batch while planning (the probe, chunk rounding) and the bound for
// batch_size: auto, whose search stays under kAutoBatchBytes of input and
// output per batch.
constexpr int64_t kAutoBatchPlanning = 256;
constexpr int64_t kAutoBatchMax = 4096;
constexpr int64_t kAutoBatchBytes = int64_t{64} << 20;  // rank 0 sends these rows to every rank

// From this many input files on, checking them takes a noticeable time (about
// 1.5 ms a file on a local disk, more on a network filesystem): the log says
// so before and after, and a terminal shows how far it is.
constexpr size_t kAnnouncedInputFiles = 100;
constexpr auto kStatusEvery = std::chrono::milliseconds(250);

// InputSet::Inspect of the job's input files, said in the log when they are
// many (rank 0's planning is otherwise silent until the plan), with their
// count on the status line where the log reaches a terminal; the time it
// took goes into `seconds`.
std::unique_ptr<InputSet> InspectInputs(const JobConfig& job, double& seconds) {
  const std::vector<std::string> paths = ExpandInputPaths(job.input.paths);
  const auto start = std::chrono::steady_clock::now();
  const bool many = paths.size() >= kAnnouncedInputFiles;
  if (many) spdlog::info("checking {} input files: each opened, its datasets held to the first's", paths.size());
  const bool live = many && (job.progress == ProgressStyle::kLive ||
                             (job.progress == ProgressStyle::kAuto && StderrReachesTerminal()));
  struct StatusShown {  // erased on every way out
    bool live;
    ~StatusShown() {
      if (live) ClearStatus();
    }
  } shown{live};
  auto next = start + kStatusEvery;
  auto checked = [&](size_t done) {
    if (!live || std::chrono::steady_clock::now() < next) return;
    next += kStatusEvery;
    ShowStatus("checking input files: " + std::to_string(done) + " of " + std::to_string(paths.size()));
  };
  auto set = InputSet::Inspect(paths, job.input.datasets, MakeReadOptions(job), checked);
  seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (many) spdlog::info("  checked {} input files in {:.2f} s", paths.size(), seconds);
  return set;
}

// A job with one output over a file that a per-input job committed: refused
// without output.overwrite, naming that job (the plain "exists" would leave
// the user guessing which run the file is), and replaced with a warning with it.
void CheckNotAPerInputFile(const JobConfig& job) {
  const std::string& path = job.output.path;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return;
  const auto origin = ReadOutputOrigin(path);
  if (!origin || !origin->per_input) return;
  if (!job.output.overwrite)
    throw OutputError("output.path '" + path + "' exists: " + DescribeOrigin(*origin) +
                      "; give this job another output.path, or set output.overwrite: true to replace it (that job's "
                      "--resume then refuses it as another job's file)");
  spdlog::warn("replacing {} (output.overwrite: true), which is not this job's: {}", path, DescribeOrigin(*origin));
}

// Views of every row of `arrays`.
std::vector<ArrayView> WholeViews(const std::vector<HostArray>& arrays) {
  std::vector<ArrayView> views;
  for (const auto& a : arrays) views.push_back(RowSlice(a, 0, a.rows()));
  return views;
}

}  // namespace

int64_t PlanningBatch(const JobConfig& job) { return job.batch_size_auto ? kAutoBatchPlanning : job.batch_size; }

int64_t ProbeRows(const JobConfig& job, const JobPlan& plan) {
  // Under batch_size: auto the probe stays small: the search finds the limit.
  return std::min(job.batch_size_auto ? int64_t{16} : job.batch_size, plan.rows);
}

std::vector<HostArray> CheckedProbeBatch(const PlannedJob& p) {
  const int64_t rows = ProbeRows(p.job, p.plan);
  std::vector<HostArray> batch;
  for (const auto& info : p.plan.inputs) batch.push_back(p.input->ReadRows(info, 0, rows));
  p.engine->CheckInputs(WholeViews(batch), FedBatches(p.job, p.plan));
  return batch;
}

int64_t AutoBatchBound(const JobPlan& plan) {
  const int64_t row = std::max<int64_t>(1, static_cast<int64_t>(plan.input_row_bytes() + plan.output_row_bytes()));
  return std::clamp<int64_t>(kAutoBatchBytes / row, 1, kAutoBatchMax);
}

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

std::unique_ptr<Engine> CreateEngine(const PlannedJob& p, const Communicator& comm) {
  std::optional<ModelSource> compiled;
  if (p.compiled_bytes) compiled = ModelSource{p.job.model_compiled, p.compiled_bytes, p.compiled_identity};
  return Engine::Create({p.job.model_path, p.model_bytes, p.model_identity}, MakeEngineOptions(p.job, comm), compiled,
                        p.prewarm);
}

BatchSizes FedBatches(const JobConfig& job, const JobPlan& plan) {
  BatchSizes b;
  b.searched = job.batch_size_auto;
  b.largest = std::min(job.batch_size_auto ? AutoBatchBound(plan) : job.batch_size, plan.rows);
  b.uniform = !job.batch_size_auto && plan.rows % job.batch_size == 0 &&
              (job.chunk_size == 0 || job.chunk_size % job.batch_size == 0);
  return b;
}

void PlanFiles(PlannedJob& p, const std::function<void()>& inspected) {
  auto& job = p.job;
  p.input = InspectInputs(job, p.inputs_seconds);
  p.plan.inputs = p.input->inputs();
  p.plan.rows = p.input->rows();
  p.plan.input_files = p.input->shards();
  if (p.plan.input_files.size() == 1) p.plan.input_file_size = p.plan.input_files.front().stamp.size;
  p.plan.input_sources = p.input->SourceFiles();
  p.plan.mode = job.input.mode;
  if (job.resume && p.restart)
    throw UsageError(
        "--restart discards the chunks an earlier run saved, --resume (resume: true) keeps them: give one");
  std::vector<KeyedPath> reads;
  for (const auto& file : p.plan.input_files) reads.emplace_back("input.path", file.path);
  reads.emplace_back("model.path", job.model_path);
  if (!job.model_compiled.empty()) reads.emplace_back("model.compiled", job.model_compiled);
  for (const auto& src : p.plan.input_sources) reads.emplace_back("input.path's " + src.role, src.path);
  if (job.output.per_input) {
    p.shard_outputs = PlanShardOutputs(job, p.plan.input_files, reads, p.restart, p.dry_run, p.output_lock);
  } else {
    CheckOutputFiles(job.output.path, reads);
    CheckNotAPerInputFile(job);
    CheckOutputPath(job.output.path, job.output.overwrite, p.dry_run ? FolderCheck::kNoWrite : FolderCheck::kProbeFile);
    // Before anything is truncated; a dry run writes nothing and takes none.
    if (!p.dry_run) {
      MakeOutputFolder(job.output.path);
      p.output_lock = std::make_unique<OutputLock>(job.output.path);
    }
    CheckSavedChunksKept(job.output.path, job.resume, p.restart);
    if (job.resume) p.resume = ReadPartial(job.output.path);
  }
  if (inspected) inspected();
  CheckNormalisation(job, p.plan);

  p.model_bytes = ReadModelFile(job.model_path, "model.path", &p.model_identity);
  p.plan.model_size = static_cast<int64_t>(p.model_bytes->size());
  if (!job.model_compiled.empty()) {
    p.compiled_bytes = ReadModelFile(job.model_compiled, "model.compiled", &p.compiled_identity);
    p.plan.compiled_size = static_cast<int64_t>(p.compiled_bytes->size());
  }
  // Hashing a large model takes a noticeable share of planning, and the hashes
  // are needed only once the plan is complete (or by a rank whose copy of the
  // model is not the file rank 0 read): compute them beside the model's
  // distribution, the engine's creation and the probe. (On a throw later, the
  // future waits for them.)
  p.hashes = std::async(std::launch::async, [model = p.model_bytes, compiled = p.compiled_bytes] {
               return std::make_pair(Sha256Hex(*model), compiled ? Sha256Hex(*compiled) : std::string());
             }).share();
}

void PlanModel(Communicator& comm, PlannedJob& p) {
  auto& job = p.job;
  const auto t_engine = std::chrono::steady_clock::now();
  p.engine = CreateEngine(p, comm);
  const auto t_probe = std::chrono::steady_clock::now();
  p.engine_seconds = std::chrono::duration<double>(t_probe - t_engine).count();

  const int64_t probe_rows = ProbeRows(job, p.plan);
  const std::vector<HostArray> probe_in = CheckedProbeBatch(p);
  const std::vector<ArrayView> views = WholeViews(probe_in);
  std::vector<HostArray> probe_out;
  try {
    probe_out = p.engine->Run(views);
  } catch (const ModelError& e) {
    const std::string hint = FeedHint(MakeEngineOptions(job, comm), p.plan.inputs, e.what());
    throw ModelError(job.model_path + ": the model cannot run on the input (first " + std::to_string(probe_rows) +
                     " rows of " + job.input.path + "): " + e.what() + (hint.empty() ? "" : ". " + hint));
  }
  p.plan.outputs = OutputSpecsFromProbe(job, probe_out, probe_rows);
  p.probe_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_probe).count();
  std::tie(p.plan.model_sha256, p.plan.compiled_sha256) = p.hashes.get();
  p.identity = ResumeIdentity(job, p.plan, p.plan.input_files.front().stamp.mtime_ns);
  if (job.output.per_input) {
    // Each file is judged by its own identity; what is left to resume, after.
    CheckShardIdentities(p.shard_outputs, job, p.plan, p.identity);
    if (job.resume) p.resume = ResumeShardOutputs(p.shard_outputs, p.plan.input_files);
  } else if (p.resume) {
    const std::string difference = IdentityDifference(p.resume->identity, p.identity);
    if (!difference.empty())
      throw ConfigError("cannot resume " + PartialPath(job.output.path) + ": " + difference +
                        "; run with --restart instead of --resume to discard its chunks and start again");
  }
  if (p.resume) {
    if (p.resume->chunk_rows > p.plan.rows)
      throw OutputError(PartialPath(job.output.path) + ": records chunks of " + std::to_string(p.resume->chunk_rows) +
                        " rows for " + std::to_string(p.plan.rows) + " rows");
    p.plan.chunk_rows = p.resume->chunk_rows;  // the chunks the journal counts in
    const int64_t chunks = PlanChunks(p.plan, 1).num_chunks();
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

void WarmEngine(const PlannedJob& p) {
  // Only on the job's own rows: a model may hang or, on a GPU, assert on rows
  // it is never given (all zeros, say), before any stall watch runs.
  if (!p.input) {
    spdlog::debug("engine not warmed: in scatter mode this rank holds no rows before scoring");
    return;
  }
  const int64_t rows = ProbeRows(p.job, p.plan);
  try {
    FaultPoint("warm-up");
    // The checks rank 0's probe makes come first: a package fed what it was not
    // exported for can fail inside a kernel, past any exception.
    const std::vector<HostArray> in = CheckedProbeBatch(p);
    const auto start = std::chrono::steady_clock::now();
    p.engine->Run(WholeViews(in));
    spdlog::debug("engine warmed on {} input row(s) in {:.2f} s", rows,
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  } catch (const std::exception& e) {
    spdlog::debug("warming the engine on {} input row(s) failed; calibration runs the model again: {}", rows, e.what());
  }
}

}  // namespace mpsbatch
