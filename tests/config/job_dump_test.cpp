#include "config/job_dump.h"

#include <gtest/gtest.h>

#include "config/job.h"

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

// Every key away from its default.
const char* kEveryKey = R"(model:
  path: m.pt
  compiled: m.pt2
device: cpu
precision: bf16
batch_size: 96
path: aoti
calibration_seconds: 2.5
calibration_cache: cache dir
chunk_size: 320
schedule: static
fail_on_nonfinite: true
resume: true
stall_timeout: 0.1
progress_interval: 2.5
threads: 3
log_level: debug
report: reports/run.json
input:
  path: "in: one.h5"
  datasets: [x, "true", "#weird"]
  mode: scatter
  dtype: float64
  scale: 0.00392156862745098
  mean: [0.485, 0.456, 0.406]
  std: [0.229, 0.224, 0.225]
  layout: nhwc
  read: hdf5
  read_threads: 7
output:
  path: out.h5
  datasets: [y, z]
  overwrite: true
  dtype: float64
)";

JobConfig Parse(const std::string& text) { return ParseJobText(text, "job.yaml", "/jobs"); }

// `job` parsed again from its dump, every field compared but the text it came from.
void ExpectRoundTrip(const JobConfig& job) {
  const std::string dump = DumpJob(job);
  JobConfig again = ParseJobText(dump, "dump", "/elsewhere");
  JobConfig original = job;
  again.effective_yaml.clear();
  original.effective_yaml.clear();
  EXPECT_TRUE(again == original) << dump;
  EXPECT_EQ(DumpJob(again), dump);
}

}  // namespace

TEST(JobDump, DefaultsRoundTrip) { ExpectRoundTrip(Parse(kMinimal)); }

TEST(JobDump, EveryKeySetRoundTrips) {
  const JobConfig job = Parse(kEveryKey);
  EXPECT_EQ(job.input.datasets[2], "#weird");
  ExpectRoundTrip(job);
}

TEST(JobDump, OtherWordsRoundTrip) {
  ExpectRoundTrip(Parse(kMinimal + std::string("batch_size: auto\nstall_timeout: off\nprogress_interval: off\n"
                                               "report: off\ncalibration_cache: off\n")));
  ExpectRoundTrip(Parse(kMinimal + std::string("stall_timeout: auto\nlog_level: off\n")));
}

// The defaults a job file leaves out are written, and the keys without a
// value say so.
TEST(JobDump, WritesEveryKeyWithItsDefault) {
  const std::string dump = DumpJob(Parse(kMinimal));
  for (const char* line : {"\ndevice: auto\n",
                           "\nprecision: fp32\n",
                           "\nbatch_size: 128\n",
                           "\npath: auto\n",
                           "\ncalibration_seconds: 30\n",
                           "\ncalibration_cache: auto\n",
                           "\nchunk_size: 0\n",
                           "\nschedule: dynamic\n",
                           "\nfail_on_nonfinite: false\n",
                           "\nresume: false\n",
                           "\nstall_timeout: auto\n",
                           "\nprogress_interval: 10\n",
                           "\nthreads: 0\n",
                           "\nlog_level: info\n",
                           "\nreport: auto\n",
                           "\n  datasets: [x]\n",
                           "\n  mode: auto\n",
                           "\n  layout: nchw\n",
                           "\n  read: auto\n",
                           "\n  read_threads: auto\n",
                           "\n  overwrite: false\n",
                           "\n  # dtype: not set (each input in its stored type)\n",
                           "\n  # compiled: not set"})
    EXPECT_NE(dump.find(line), std::string::npos) << line << " in\n" << dump;
}

}  // namespace mpsbatch
