#include "plan/job_plan.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "common/error.h"
#include "plan/chunk_plan.h"

namespace mpsbatch {

size_t JobPlan::input_row_bytes() const {
  size_t n = 0;
  for (const auto& in : inputs) n += in.row_bytes();
  return n;
}

size_t JobPlan::output_row_bytes() const {
  size_t n = 0;
  for (const auto& out : outputs) n += out.row_bytes();
  return n;
}

namespace {

class Writer {
 public:
  void Int(int64_t v) { buf_.append(reinterpret_cast<const char*>(&v), sizeof v); }
  void Str(const std::string& s) {
    Int(static_cast<int64_t>(s.size()));
    buf_ += s;
  }
  void ShapeOf(const Shape& s) {
    Int(static_cast<int64_t>(s.size()));
    for (int64_t d : s) Int(d);
  }
  std::string Take() { return std::move(buf_); }

 private:
  std::string buf_;
};

class Reader {
 public:
  explicit Reader(const std::string& buf) : buf_(buf) {}
  int64_t Int() {
    if (pos_ + sizeof(int64_t) > buf_.size()) throw InternalError("truncated plan");
    int64_t v;
    std::memcpy(&v, buf_.data() + pos_, sizeof v);
    pos_ += sizeof v;
    return v;
  }
  std::string Str() {
    const auto n = static_cast<size_t>(Int());
    if (pos_ + n > buf_.size()) throw InternalError("truncated plan");
    std::string s = buf_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  Shape ShapeOf() {
    Shape s(static_cast<size_t>(Int()));
    for (auto& d : s) d = Int();
    return s;
  }

 private:
  const std::string& buf_;
  size_t pos_ = 0;
};

}  // namespace

std::string SerializePlan(const JobPlan& p) {
  Writer w;
  w.Int(kPlanFormatVersion);
  w.Int(p.rows);
  w.Int(p.chunk_rows);
  w.Int(static_cast<int64_t>(p.mode));
  w.Int(p.input_file_size);
  w.Int(static_cast<int64_t>(p.input_files.size()));
  for (const auto& file : p.input_files) {
    w.Str(file.path);
    w.Int(file.rows);
    w.Int(file.stamp.size);
    w.Int(file.stamp.mtime_ns);
  }
  w.Int(static_cast<int64_t>(p.input_sources.size()));
  for (const auto& src : p.input_sources) {
    w.Str(src.path);
    w.Str(src.role);
    w.Int(src.stamp.size);
    w.Int(src.stamp.mtime_ns);
  }
  w.Int(p.model_size);
  w.Str(p.model_sha256);
  w.Int(p.compiled_size);
  w.Str(p.compiled_sha256);
  w.Int(static_cast<int64_t>(p.inputs.size()));
  for (const auto& in : p.inputs) {
    w.Str(in.name);
    w.Int(static_cast<int64_t>(in.dtype));
    w.ShapeOf(in.shape);
  }
  w.Int(static_cast<int64_t>(p.outputs.size()));
  for (const auto& out : p.outputs) {
    w.Str(out.name);
    w.Int(static_cast<int64_t>(out.dtype));
    w.ShapeOf(out.row_shape);
  }
  return w.Take();
}

JobPlan DeserializePlan(const std::string& data) {
  Reader r(data);
  if (const int64_t version = r.Int(); version != kPlanFormatVersion)
    throw InternalError("the plan is in format version " + std::to_string(version) + ", this build reads version " +
                        std::to_string(kPlanFormatVersion) + " (every rank must run the same build of mpsbatch)");
  JobPlan p;
  p.rows = r.Int();
  p.chunk_rows = r.Int();
  p.mode = static_cast<InputMode>(r.Int());
  p.input_file_size = r.Int();
  p.input_files.resize(static_cast<size_t>(r.Int()));
  for (auto& file : p.input_files) {
    file.path = r.Str();
    file.rows = r.Int();
    file.stamp.size = r.Int();
    file.stamp.mtime_ns = r.Int();
  }
  p.input_sources.resize(static_cast<size_t>(r.Int()));
  for (auto& src : p.input_sources) {
    src.path = r.Str();
    src.role = r.Str();
    src.stamp.size = r.Int();
    src.stamp.mtime_ns = r.Int();
  }
  p.model_size = r.Int();
  p.model_sha256 = r.Str();
  p.compiled_size = r.Int();
  p.compiled_sha256 = r.Str();
  p.inputs.resize(static_cast<size_t>(r.Int()));
  for (auto& in : p.inputs) {
    in.name = r.Str();
    in.dtype = static_cast<DType>(r.Int());
    in.shape = r.ShapeOf();
  }
  p.outputs.resize(static_cast<size_t>(r.Int()));
  for (auto& out : p.outputs) {
    out.name = r.Str();
    out.dtype = static_cast<DType>(r.Int());
    out.row_shape = r.ShapeOf();
  }
  return p;
}

ChunkPlan PlanChunks(const JobPlan& plan, int ranks) {
  if (plan.input_files.size() <= 1) return ChunkPlan(plan.rows, plan.chunk_rows, ranks);
  std::vector<int64_t> file_rows;
  for (const auto& file : plan.input_files) file_rows.push_back(file.rows);
  return ChunkPlan(file_rows, plan.chunk_rows, ranks);
}

std::vector<OutputSpec> OutputSpecsFromProbe(const JobConfig& job, const std::vector<HostArray>& probe, int64_t rows) {
  const auto& names = job.output.datasets;
  if (probe.size() != names.size()) {
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    throw ModelError(job.model_path + ": the model returns " + std::to_string(probe.size()) +
                     " output(s) but output.datasets names " + std::to_string(names.size()) + " [" + list +
                     "]; give one dataset name per model output");
  }
  std::vector<OutputSpec> specs;
  for (size_t i = 0; i < probe.size(); ++i) {
    const auto& a = probe[i];
    if (a.shape.empty() || a.shape[0] != rows)
      throw ModelError(job.model_path + ": output " + std::to_string(i) + " ('" + names[i] + "') has shape " +
                       ShapeString(a.shape) + " for a batch of " + std::to_string(rows) +
                       " rows; each output's first dimension must be the batch");
    // The engine returned each output in the type it is stored in.
    specs.push_back(OutputSpec{names[i], a.dtype, Shape(a.shape.begin() + 1, a.shape.end())});
  }
  return specs;
}

std::string InputFilesSummary(const JobPlan& plan) {
  const auto& files = plan.input_files;
  if (files.size() < 2) return "";
  const auto empty = std::count_if(files.begin(), files.end(), [](const InputShard& f) { return f.rows == 0; });
  return std::to_string(files.size()) + " files (" + files.front().path + " ... " + files.back().path + ")" +
         (empty > 0 ? ", " + std::to_string(empty) + " file(s) without rows skipped" : "");
}

std::string DescribePlan(const JobConfig& job, const JobPlan& plan, int ranks) {
  const ChunkPlan chunks = PlanChunks(plan, ranks);
  std::string s = "plan: " + std::to_string(plan.rows) + " rows in " + std::to_string(chunks.num_chunks()) +
                  " chunks of up to " + std::to_string(plan.chunk_rows) + " rows over " + std::to_string(ranks) +
                  " rank(s), batch_size " +
                  (job.batch_size_auto ? std::string("auto") : std::to_string(job.batch_size)) + ", path " +
                  PathRequestName(job.path) + ", schedule " + ScheduleName(job.schedule) + "\n";
  if (const std::string files = InputFilesSummary(plan); !files.empty()) {
    s += "  input:  " + job.input.path + ": " + files + ", " + std::to_string(plan.rows) + " rows (mode " +
         InputModeName(plan.mode) + ")\n";
  } else {
    s += "  input:  " + job.input.path + " (mode " + InputModeName(plan.mode) + ")\n";
  }
  for (const auto& in : plan.inputs)
    s += "          " + in.name + ": " + std::string(DTypeName(in.dtype)) + " " + ShapeString(in.shape) + "\n";
  for (const auto& src : plan.input_sources) s += "          rows from " + src.path + " (" + src.role + ")\n";
  s += "  model:  " + job.model_path + " (" + std::to_string(plan.model_size) + " bytes, sha256 " +
       plan.model_sha256.substr(0, 16) + "...), device " + DeviceRequestName(job.device) + ", precision " +
       PrecisionName(job.precision) + "\n";
  s += "  output: " + job.output.path + "\n";
  for (const auto& out : plan.outputs) {
    Shape shape{plan.rows};
    shape.insert(shape.end(), out.row_shape.begin(), out.row_shape.end());
    s += "          " + out.name + ": " + std::string(DTypeName(out.dtype)) + " " + ShapeString(shape) + "\n";
  }
  return s;
}

}  // namespace mpsbatch
