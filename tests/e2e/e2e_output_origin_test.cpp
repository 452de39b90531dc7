// A job with one output and a per-input job that name the same file: each
// refusal names the file, what wrote it (as the file records its job: a
// per-input job's pattern and input file, or a single output's input.path,
// when it was committed and the command line) and the fix; a replacement
// under output.overwrite: true says whose file it replaces.
#include "e2e_util.h"
#include "shards_util.h"

namespace mpsbatch::e2e {
namespace {

// hang.pt over `input`, two rows a batch and a chunk, its output at `output`
// (a pattern with `per_input`).
fs::path WriteJobFile(const fs::path& path, const std::string& input, const std::string& output, bool per_input) {
  testing::WriteFile(path, "model:\n  path: " + Fixture("hang.pt") + "\ndevice: " + TestDevice() +
                               "\nthreads: 1\nbatch_size: 2\nchunk_size: 2\npath: eager\ninput:\n  path: " + input +
                               "\n  datasets: [x]\noutput:\n  path: " + output +
                               (per_input ? "\n  per_input: true" : "") + "\n  datasets: [y]\n");
  return path;
}

class OutputOrigin : public E2E {
 protected:
  void SetUp() override {
    E2E::SetUp();
    fs::create_directories(dir_ / "data");
    inputs_ = testing::WriteShards(Fixture("hang_unmarked.h5"), "x", dir_ / "data", {4, 5, 4});
    pattern_ = (dir_ / "o" / "{stem}.h5").string();
    file_ = (dir_ / "o" / "part-0001.h5").string();
    per_input_ = WriteJobFile(dir_ / "per_input.yaml", (dir_ / "data" / "part-*.h5").string(), pattern_, true);
    single_ = WriteJobFile(dir_ / "single.yaml", inputs_[1], file_, false);
  }
  std::vector<std::string> inputs_;
  std::string pattern_, file_;
  fs::path per_input_, single_;
};

}  // namespace

// A per-input job's committed file as a single output's output.path: refused
// naming the per-input job and its input file, with and without --resume;
// replaced with output.overwrite: true, with a warning naming it; a --resume
// of the per-input job then refuses the file, naming the single-output job.
TEST_F(OutputOrigin, ASingleOutputOverAPerInputJobsFileNamesThatJob) {
  auto r = RunMpsbatch(1, per_input_);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string bytes = testing::ReadFile(file_);
  const std::string refusal =
      "output.path '" + file_ + "' exists: a per-input job (output.path " + pattern_ + ") committed it at ";
  const std::string whose = " as the output of input file " + inputs_[1] + " (command line: ";
  for (const std::vector<std::string>& args : {std::vector<std::string>{}, std::vector<std::string>{"--resume"}}) {
    r = RunMpsbatch(1, single_, args);
    EXPECT_EQ(r.exit_code, 7) << r.output;
    EXPECT_NE(r.output.find(refusal), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(whose), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("; give this job another output.path, or set output.overwrite: true to replace it"),
              std::string::npos)
        << r.output;
    EXPECT_EQ(testing::ReadFile(file_), bytes);
  }

  r = RunMpsbatch(1, single_, {"--set", "output.overwrite=true"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("replacing " + file_ +
                          " (output.overwrite: true), which is not this job's: a per-input job "
                          "(output.path " +
                          pattern_ + ")"),
            std::string::npos)
      << r.output;

  r = RunMpsbatch(1, per_input_, {"--resume"});
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("cannot resume: " + file_ +
                          " is not a file of this per-input job: a job with one output "
                          "(output.path " +
                          file_ + ") committed it at "),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find(" from input.path " + inputs_[1] + " (command line: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("; move it away, or run without --resume and with output.overwrite: true to replace it"),
            std::string::npos)
      << r.output;
}

// A single output's committed file among a per-input job's outputs: the
// refusal names the job that wrote it; the per-input job's own files, left by
// an earlier run of it, are only counted.
TEST_F(OutputOrigin, APerInputJobOverASingleOutputsFileNamesThatJob) {
  auto r = RunMpsbatch(1, single_);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = RunMpsbatch(1, per_input_);
  EXPECT_EQ(r.exit_code, 7) << r.output;
  EXPECT_NE(r.output.find("output.path: 1 of the 3 output files exist (the first: " + file_ +
                          "; a job with one output (output.path " + file_ + ") committed it at "),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find(" from input.path " + inputs_[1] + " (command line: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("); set output.overwrite: true to replace them, or move them away"), std::string::npos)
      << r.output;

  fs::remove(file_);
  r = RunMpsbatch(1, per_input_);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = RunMpsbatch(1, per_input_);
  EXPECT_EQ(r.exit_code, 7) << r.output;
  EXPECT_NE(r.output.find("output.path: 3 of the 3 output files exist (the first: " +
                          (dir_ / "o" / "part-0000.h5").string() + "); set output.overwrite"),
            std::string::npos)
      << r.output;
}

}  // namespace mpsbatch::e2e
