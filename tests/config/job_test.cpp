#include "config/job.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "common/error.h"
#include "test_util.h"

namespace mpsbatch {

namespace {

const char* kMinimal = R"(model:
  path: m.pt
input:
  path: in.h5
  dataset: x
output:
  path: out.h5
  datasets: [y]
)";

JobConfig Parse(const std::string& text, const std::vector<std::string>& overrides = {}) {
  return ParseJobText(text, "job.yaml", "/jobs", overrides);
}

// The ConfigError message Parse throws for `text`.
std::string ErrorOf(const std::string& text, const std::vector<std::string>& overrides = {}) {
  try {
    Parse(text, overrides);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(Job, MinimalJobGetsDefaultsAndAbsolutePaths) {
  JobConfig c = Parse(kMinimal);
  EXPECT_EQ(c.model_path, "/jobs/m.pt");
  EXPECT_EQ(c.input.path, "/jobs/in.h5");
  EXPECT_EQ(c.output.path, "/jobs/out.h5");
  EXPECT_EQ(c.input.datasets, (std::vector<std::string>{"x"}));
  EXPECT_EQ(c.output.datasets, (std::vector<std::string>{"y"}));
  EXPECT_EQ(c.device, DeviceRequest::kAuto);
  EXPECT_EQ(c.precision, Precision::kFp32);
  EXPECT_EQ(c.batch_size, 128);
  EXPECT_EQ(c.schedule, Schedule::kDynamic);
  EXPECT_EQ(c.input.mode, InputMode::kAuto);
  EXPECT_FALSE(c.output.overwrite);
  EXPECT_FALSE(c.output.dtype.has_value());  // each output in its own type
  EXPECT_FALSE(c.input.scale.has_value());
  EXPECT_TRUE(c.input.read_direct);
  EXPECT_EQ(c.input.read_threads, 0);  // auto
}

// input.path: one path, or a list of paths and globs, each made absolute
// (globs are expanded when the job is planned).
TEST(Job, InputPathTakesAListOfPathsAndGlobs) {
  JobConfig one = Parse(kMinimal);
  EXPECT_EQ(one.input.paths, std::vector<std::string>{"/jobs/in.h5"});
  JobConfig glob = Parse(kMinimal, {"input.path=data/part-*.h5"});
  EXPECT_EQ(glob.input.paths, std::vector<std::string>{(std::filesystem::current_path() / "data/part-*.h5").string()});
  JobConfig list = Parse(R"(model:
  path: m.pt
input:
  path: [a.h5, /data/b-*.h5]
  dataset: x
output:
  path: out.h5
  datasets: [y]
)");
  EXPECT_EQ(list.input.paths, (std::vector<std::string>{"/jobs/a.h5", "/data/b-*.h5"}));
  EXPECT_EQ(list.input.path, "/jobs/a.h5, /data/b-*.h5");
  // The effective job holds the absolute list, and parses to the same one.
  JobConfig again = ParseJobText(list.effective_yaml, "again", "/elsewhere");
  EXPECT_EQ(again.input.paths, list.input.paths);
  EXPECT_NE(ErrorOf(kMinimal, {"input.path=[]"}).find("input.path"), std::string::npos);
  EXPECT_NE(ErrorOf(kMinimal, {"input.path=[]"}).find("the list is empty"), std::string::npos);
  EXPECT_NE(ErrorOf(kMinimal, {"input.path=[a.h5, [b.h5]]"}).find("expected a string"), std::string::npos);
}

TEST(Job, ReportIsBesideTheOutputUnlessMovedOrOff) {
  EXPECT_EQ(Parse(kMinimal).report, "auto");
  EXPECT_EQ(Parse(kMinimal, {"report=off"}).report, "off");
  EXPECT_EQ(Parse(kMinimal + std::string("report: r/run.json\n")).report, "/jobs/r/run.json");
  EXPECT_NE(ErrorOf(kMinimal, {"report=false"}).find("expected auto, off or a file path, got 'false'"),
            std::string::npos);
}

TEST(Job, InputReadKeys) {
  JobConfig c = Parse(kMinimal, {"input.read=hdf5", "input.read_threads=3"});
  EXPECT_FALSE(c.input.read_direct);
  EXPECT_EQ(c.input.read_threads, 3);
  c = Parse(kMinimal, {"input.read=auto", "input.read_threads=auto"});
  EXPECT_TRUE(c.input.read_direct);
  EXPECT_EQ(c.input.read_threads, 0);
  EXPECT_NE(ErrorOf(kMinimal, {"input.read=mmap"}).find("input.read: 'mmap' is not one of auto | hdf5"),
            std::string::npos);
  EXPECT_NE(ErrorOf(kMinimal, {"input.read_threads=0"}).find("input.read_threads: must be >= 1, got 0"),
            std::string::npos);
  EXPECT_EQ(Parse(kMinimal, {"calibration_cache=off"}).calibration_cache, "off");
  EXPECT_EQ(Parse(kMinimal).calibration_cache, "auto");
  EXPECT_EQ(Parse(kMinimal, {"calibration_cache=cache"}).calibration_cache,
            (std::filesystem::current_path() / "cache").string());
  EXPECT_NE(ErrorOf(kMinimal, {"calibration_cache=no"}).find("expected auto, off or a folder, got 'no'"),
            std::string::npos);
  EXPECT_NE(ErrorOf(kMinimal, {"input.read_threads=65"}).find("input.read_threads: must be <= 64 (or auto), got 65"),
            std::string::npos);
}

TEST(Job, StallTimeout) {
  EXPECT_EQ(Parse(kMinimal).stall_timeout.mode, StallTimeout::Mode::kAuto);
  EXPECT_EQ(Parse(kMinimal, {"stall_timeout=auto"}).stall_timeout.mode, StallTimeout::Mode::kAuto);
  EXPECT_EQ(Parse(kMinimal, {"stall_timeout=off"}).stall_timeout.mode, StallTimeout::Mode::kOff);
  const JobConfig c = Parse(kMinimal, {"stall_timeout=2.5"});
  EXPECT_EQ(c.stall_timeout.mode, StallTimeout::Mode::kSeconds);
  EXPECT_EQ(c.stall_timeout.seconds, 2.5);
  for (const char* bad : {"stall_timeout=0", "stall_timeout=-3", "stall_timeout=soon", "stall_timeout=[1]"})
    EXPECT_NE(ErrorOf(kMinimal, {bad}).find("--set stall_timeout: expected auto, off or a number of seconds > 0"),
              std::string::npos)
        << bad;
  EXPECT_NE(ErrorOf(kMinimal, {"stall_timout=5"}).find("unknown key (did you mean 'stall_timeout'?)"),
            std::string::npos);
}

TEST(Job, OnErrorAndMaxFailedRows) {
  const JobConfig plain = Parse(kMinimal);
  EXPECT_EQ(plain.on_error, OnError::kFail);
  EXPECT_FALSE(plain.max_failed_rows.For(1000));
  const JobConfig skip = Parse(kMinimal, {"on_error=skip"});
  EXPECT_EQ(skip.on_error, OnError::kSkip);
  EXPECT_EQ(skip.max_failed_rows.Text(), "none");
  EXPECT_EQ(Parse(kMinimal, {"on_error=skip", "max_failed_rows=12"}).max_failed_rows.For(1000), 12);
  const JobConfig share = Parse(kMinimal, {"on_error=skip", "max_failed_rows=0.1%"});
  EXPECT_EQ(share.max_failed_rows.For(100000), 100);
  EXPECT_EQ(share.max_failed_rows.Text(), "0.1%");
  EXPECT_FALSE(Parse(kMinimal, {"on_error=skip", "max_failed_rows=none"}).max_failed_rows.For(5));
  EXPECT_NE(ErrorOf(kMinimal, {"on_error=ignore"}).find("'ignore' is not one of"), std::string::npos);
  for (const char* bad : {"max_failed_rows=-1", "max_failed_rows=lots", "max_failed_rows=120%"})
    EXPECT_NE(ErrorOf(kMinimal, {"on_error=skip", bad})
                  .find("max_failed_rows: expected none, a number of rows >= 0 or a percentage"),
              std::string::npos)
        << bad;
  EXPECT_NE(ErrorOf(kMinimal, {"max_failed_rows=3"}).find("applies only with on_error: skip"), std::string::npos);
  EXPECT_NE(ErrorOf(kMinimal, {"on_error=skip", "output.datasets=[failed]"})
                .find("'failed' is the dataset on_error: skip marks failed rows in"),
            std::string::npos);
}

TEST(Job, ProgressIsAutoLiveLinesOrOff) {
  EXPECT_EQ(Parse(kMinimal).progress, ProgressStyle::kAuto);
  EXPECT_EQ(Parse(kMinimal, {"progress=live"}).progress, ProgressStyle::kLive);
  EXPECT_EQ(Parse(kMinimal, {"progress=lines"}).progress, ProgressStyle::kLines);
  EXPECT_EQ(Parse(kMinimal, {"progress=off"}).progress, ProgressStyle::kOff);
  EXPECT_NE(ErrorOf(kMinimal, {"progress=bar"}).find("progress: 'bar' is not one of auto | live | lines | off"),
            std::string::npos)
      << ErrorOf(kMinimal, {"progress=bar"});
}

TEST(Job, EveryKey) {
  JobConfig c = Parse(R"(model: {path: /abs/m.pt2}
device: cuda
precision: bf16
batch_size: 7
chunk_size: 70
schedule: static
threads: 3
log_level: debug
input: {path: in.h5, datasets: [ids, mask], mode: scatter, dtype: float32, scale: 0.5}
output: {path: o.h5, datasets: [a, b], overwrite: true, dtype: float64}
)");
  EXPECT_EQ(c.model_path, "/abs/m.pt2");
  EXPECT_EQ(c.device, DeviceRequest::kCuda);
  EXPECT_EQ(c.precision, Precision::kBf16);
  EXPECT_EQ(c.batch_size, 7);
  EXPECT_EQ(c.chunk_size, 70);
  EXPECT_EQ(c.schedule, Schedule::kStatic);
  EXPECT_EQ(c.threads, 3);
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.input.datasets, (std::vector<std::string>{"ids", "mask"}));
  EXPECT_EQ(c.input.mode, InputMode::kScatter);
  EXPECT_EQ(c.input.dtype, DType::kFloat32);
  EXPECT_DOUBLE_EQ(*c.input.scale, 0.5);
  EXPECT_TRUE(c.output.overwrite);
  EXPECT_EQ(c.output.dtype, DType::kFloat64);
}

TEST(Job, EffectiveYamlParsesToTheSameJob) {
  JobConfig a = Parse(kMinimal, {"batch_size=9", "output.path=/tmp/o.h5"});
  JobConfig b = ParseJobText(a.effective_yaml, "again", "/elsewhere");
  EXPECT_EQ(b.model_path, "/jobs/m.pt");
  EXPECT_EQ(b.output.path, "/tmp/o.h5");
  EXPECT_EQ(b.batch_size, 9);
  EXPECT_EQ(b.effective_yaml, a.effective_yaml);
}

TEST(Job, SetOverridesAndCreatesKeys) {
  JobConfig c = Parse(kMinimal, {"batch_size=16", "input.scale=0.25", "output.datasets=[p, q]", "precision=fp16"});
  EXPECT_EQ(c.batch_size, 16);
  EXPECT_DOUBLE_EQ(*c.input.scale, 0.25);
  EXPECT_EQ(c.output.datasets, (std::vector<std::string>{"p", "q"}));
  EXPECT_EQ(c.precision, Precision::kFp16);
}

TEST(Job, SetPathsResolveAgainstTheCurrentDirectory) {
  JobConfig c = Parse(kMinimal, {"output.path=o.h5", "input={path: i.h5, dataset: x}"});
  EXPECT_EQ(c.output.path, (std::filesystem::current_path() / "o.h5").string());
  EXPECT_EQ(c.input.path, (std::filesystem::current_path() / "i.h5").string());
  EXPECT_EQ(c.model_path, "/jobs/m.pt");
}

TEST(Job, LoadJobFileResolvesAgainstItsFolder) {
  auto dir = testing::TestDir();
  testing::WriteFile(dir / "job.yaml", kMinimal);
  JobConfig c = LoadJobFile((dir / "job.yaml").string());
  EXPECT_EQ(c.model_path, (dir / "m.pt").string());
  EXPECT_THROW(LoadJobFile((dir / "missing.yaml").string()), ConfigError);
}

// A folder, a pipe or a device where the job file should be: refused at
// once (a pipe hung in the read, /dev/zero filled the memory).
TEST(Job, LoadJobFileRefusesWhatIsNotAFile) {
  auto dir = testing::TestDir();
  try {
    LoadJobFile(dir.string());
    ADD_FAILURE() << "a folder was read as a job file";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("is a folder, not a job file"), std::string::npos) << e.what();
  }
  const auto fifo = dir / "job.yaml";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  try {
    LoadJobFile(fifo.string());
    ADD_FAILURE() << "a pipe was read as a job file";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("is not a regular file"), std::string::npos) << e.what();
  }
  EXPECT_THROW(LoadJobFile("/dev/zero"), ConfigError);
}

TEST(Job, ThreadsHasAnUpperBound) {
  EXPECT_NE(ErrorOf(kMinimal, {"threads=100000"}).find("threads: must be <= 1024 (or 0: automatic), got 100000"),
            std::string::npos)
      << ErrorOf(kMinimal, {"threads=100000"});
  EXPECT_EQ(Parse(kMinimal, {"threads=1024"}).threads, 1024);
}

TEST(JobErrors, MalformedYamlNamesFileAndLine) {
  EXPECT_EQ(ErrorOf("model:\n  path: [a\n").rfind("job.yaml:", 0), 0u);
  EXPECT_NE(ErrorOf("model:\n  path: [a\n").find("malformed YAML"), std::string::npos);
}

TEST(JobErrors, UnknownKeyNamesLineAndSuggests) {
  std::string text = kMinimal;
  text += "batch_sise: 4\n";
  EXPECT_EQ(ErrorOf(text), "job.yaml:9: batch_sise: unknown key (did you mean 'batch_size'?)");
  EXPECT_EQ(ErrorOf(std::string(kMinimal) + "colour: red\n"), "job.yaml:9: colour: unknown key");
  EXPECT_NE(ErrorOf(R"(model: {path: m.pt, pth: x}
input: {path: a, dataset: x}
output: {path: b, datasets: [y]})")
                .find("model.pth: unknown key (did you mean 'path'?)"),
            std::string::npos);
}

TEST(JobErrors, DuplicateKeyNamesItsSecondLine) {
  EXPECT_EQ(ErrorOf(std::string(kMinimal) + "batch_size: 4\nbatch_size: auto\n"),
            "job.yaml:10: batch_size: appears twice; give it once");
  // The file's duplicate, even where --set gives the key too.
  EXPECT_EQ(ErrorOf(std::string(kMinimal) + "batch_size: 4\nbatch_size: auto\n", {"batch_size=16"}),
            "job.yaml:10: batch_size: appears twice; give it once");
  EXPECT_EQ(
      ErrorOf("model: {path: m.pt, path: n.pt}\ninput: {path: a, dataset: x}\noutput: {path: b, datasets: [y]}\n"),
      "job.yaml:1: model.path: appears twice; give it once");
}

TEST(JobErrors, WrongTypes) {
  EXPECT_EQ(ErrorOf(std::string(kMinimal) + "batch_size: lots\n"),
            "job.yaml:9: batch_size: expected an integer, got 'lots'");
  EXPECT_EQ(ErrorOf(std::string(kMinimal) + "batch_size: 0\n"), "job.yaml:9: batch_size: must be >= 1, got 0");
  EXPECT_NE(
      ErrorOf(std::string(kMinimal) + "device: gpu\n").find("device: 'gpu' is not one of auto | cpu | cuda | mps"),
      std::string::npos);
  EXPECT_NE(ErrorOf(kMinimal, {"output.overwrite=maybe"}).find("expected true or false"), std::string::npos);
  EXPECT_NE(ErrorOf(kMinimal, {"input.scale=big"}).find("input.scale: expected a number"), std::string::npos);
  EXPECT_NE(ErrorOf(kMinimal, {"input.dtype=complex"}).find("unknown dtype 'complex'"), std::string::npos);
  EXPECT_NE(ErrorOf(kMinimal, {"output.dtype=uint8"}).find("output.dtype: 'uint8' cannot be stored"),
            std::string::npos);
  EXPECT_NE(ErrorOf(kMinimal, {"output.dtype=float16"}).find("cannot be stored"), std::string::npos);
  EXPECT_NE(ErrorOf("model: 3\ninput: {path: a, dataset: x}\noutput: {path: b, datasets: [y]}\n")
                .find("job.yaml:1: model: expected a mapping"),
            std::string::npos);
}

TEST(JobErrors, MissingRequiredKeys) {
  EXPECT_EQ(ErrorOf("input: {path: a, dataset: x}\noutput: {path: b, datasets: [y]}\n"),
            "job.yaml:1: model: required key is missing");
  EXPECT_NE(ErrorOf("model: {path: m}\ninput: {path: a}\noutput: {path: b, datasets: [y]}\n")
                .find("input.dataset: required key is missing"),
            std::string::npos);
  EXPECT_NE(ErrorOf("model: {path: m}\ninput: {path: a, dataset: x}\noutput: {path: b}\n")
                .find("output.datasets: required key is missing"),
            std::string::npos);
  EXPECT_EQ(ErrorOf(""), "job.yaml: the job file is empty");
}

TEST(JobErrors, DatasetLists) {
  EXPECT_NE(ErrorOf(kMinimal, {"input.datasets=[a]"}).find("not both"), std::string::npos);
  EXPECT_NE(ErrorOf(kMinimal, {"output.datasets=[a, a]"}).find("'a' appears twice"), std::string::npos);
  EXPECT_NE(ErrorOf(kMinimal, {"output.datasets=[]"}).find("the list is empty"), std::string::npos);
}

TEST(JobErrors, SetNamesTheOption) {
  EXPECT_EQ(ErrorOf(kMinimal, {"batch_size=x"}), "--set batch_size: expected an integer, got 'x'");
  EXPECT_NE(ErrorOf(kMinimal, {"nokey"}).find("expected key.path=value"), std::string::npos);
  EXPECT_NE(ErrorOf(kMinimal, {"model.path.x=1"}).find("--set model.path.x: 'path' is not a mapping"),
            std::string::npos);
  EXPECT_NE(ErrorOf(kMinimal, {"batch_size.x=1"}).find("--set batch_size: expected an integer"), std::string::npos);
  EXPECT_NE(ErrorOf(kMinimal, {"modle.path=x"}).find("modle: unknown key (did you mean 'model'?)"), std::string::npos);
}

// The job files we ship parse: the example of every key and the demo.
TEST(Job, ShippedJobFilesParse) {
  for (const char* name : {"configs/example.yaml", "jobs/demo.yaml"}) {
    SCOPED_TRACE(name);
    const std::string path = std::string(MPSBATCH_SOURCE_DIR) + "/" + name;
    JobConfig job;
    ASSERT_NO_THROW(job = LoadJobFile(path));
    EXPECT_FALSE(job.model_path.empty());
    EXPECT_FALSE(job.output.datasets.empty());
  }
}

// output.path is an HDF5 file: a suffix of another format is refused, with
// the line and key, rather than silently written as HDF5.
TEST(Job, OutputPathSuffixMustSayHdf5) {
  for (const char* ok : {"out.h5", "out.hdf5", "out.HDF", "out.he5", "out", "dir.v2/out.H5", "out.h5.partial"})
    EXPECT_NO_THROW(Parse(kMinimal, {std::string("output.path=/o/") + ok})) << ok;
  for (const char* bad : {"scores.parquet", "scores.npy", "scores.csv", "scores.pt"}) {
    const std::string e = ErrorOf(kMinimal, {std::string("output.path=/o/") + bad});
    EXPECT_NE(e.find("--set output.path: '/o/" + std::string(bad) + "' ends in ."), std::string::npos) << e;
    EXPECT_NE(e.find("mpsbatch writes an HDF5 file; name it with .h5"), std::string::npos) << e;
  }
  std::string in_file = kMinimal;
  in_file.replace(in_file.find("out.h5"), 6, "out.npy");
  EXPECT_NE(ErrorOf(in_file).find("job.yaml:7: output.path: '/jobs/out.npy' ends in .npy"), std::string::npos)
      << ErrorOf(in_file);
}

// output.datasets: names with '/' are datasets in groups; names the writer
// could not create are refused when the job is read, so --dry-run sees them.
TEST(Job, OutputDatasetNames) {
  EXPECT_EQ(Parse(kMinimal, {"output.datasets=[scores/logits, scores/probs, ids]"}).output.datasets.size(), 3u);
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"[a, a/b]", "'a' is a dataset and also the group of 'a/b'"},
      {"[/a]", "'/a' starts with '/'"},
      {"[a/]", "'a/' ends with '/'"},
      {"[a//b]", "'a//b' has an empty group name"},
      {"[a/../b]", "'a/../b' has a '..' component"},
      {"[a, a]", "'a' appears twice"},
      {"['']", "a name is empty"},
  };
  for (const auto& [value, message] : refused) {
    const std::string e = ErrorOf(kMinimal, {"output.datasets=" + value});
    EXPECT_NE(e.find("--set output.datasets: " + message), std::string::npos) << value << ": " << e;
  }
}

// output.per_input: a pattern of {stem}, {name} or {index} in the file name;
// without per_input no placeholder, and with it at least one.
TEST(Job, PerInputTakesAPatternOfTheInputFilesNames) {
  EXPECT_FALSE(Parse(kMinimal).output.per_input);
  const JobConfig c = Parse(kMinimal, {"output.per_input=true", "output.path=/o/scores/{stem}.h5"});
  EXPECT_TRUE(c.output.per_input);
  EXPECT_EQ(c.output.path, "/o/scores/{stem}.h5");
  EXPECT_NO_THROW(Parse(kMinimal, {"output.per_input=true", "output.path=/o/s_{index}_{name}"}));
  std::string e = ErrorOf(kMinimal, {"output.per_input=true"});
  EXPECT_NE(e.find("job.yaml:7: output.path: '/jobs/out.h5' names one file, but output.per_input: true writes one per "
                   "input file; put {stem}"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("e.g. /jobs/{stem}.h5"), std::string::npos) << e;
  e = ErrorOf(kMinimal, {"output.path=/o/{stem}.h5"});
  EXPECT_NE(e.find("--set output.path: '/o/{stem}.h5' holds a placeholder"), std::string::npos) << e;
  EXPECT_NE(e.find("set output.per_input: true"), std::string::npos) << e;
  e = ErrorOf(kMinimal, {"output.per_input=true", "output.path=/o/{stem}/y.h5"});
  EXPECT_NE(e.find("placeholders go in the file name, not in its folder"), std::string::npos) << e;
  e = ErrorOf(kMinimal, {"output.per_input=true", "output.path=/o/{stem}_{idx}.h5"});
  EXPECT_NE(e.find("holds '{idx}', which is no placeholder; use {stem}, {name} or {index}"), std::string::npos) << e;
}

}  // namespace mpsbatch
