// End to end: the refusals that name what to change. A dataset name not in
// the input lists the file's datasets and the nearest; an integer input fed
// to a float model points at input.dtype and input.scale, channels-last
// images at input.layout; output.path and output.datasets are checked when
// the job is read, so --dry-run refuses what the run would; a missing output
// folder is created, or named when it cannot be.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "e2e_util.h"

namespace mpsbatch {

using namespace e2e;

namespace {

// A refusal: its exit code, the message, no output file, in bounded time.
void ExpectRefused(const RunResult& r, int exit_code, const std::string& message, const std::string& out) {
  EXPECT_EQ(r.exit_code, exit_code) << r.output;
  EXPECT_NE(r.output.find(message), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace

TEST_F(E2E, ADatasetTypoListsTheDatasetsAndSuggestsTheNearest) {
  const auto job = WriteJob(dir_, "mlp.pt", "[x_f23]");
  for (const std::vector<std::string>& args : {std::vector<std::string>{"--dry-run"}, std::vector<std::string>{}}) {
    auto r = RunMpsbatch(2, job, args);
    ExpectRefused(r, 4, "dataset 'x_f23' not found (did you mean 'x_f32'?)", Out());
    EXPECT_NE(r.output.find("nested/deeper/x_f32"), std::string::npos)
        << "nested datasets by their paths: " << r.output;
    EXPECT_NE(r.output.find("Set input.dataset (or input.datasets) to the name"), std::string::npos) << r.output;
  }
  auto nested = RunMpsbatch(1, WriteJob(dir_, "mlp.pt", "[deeper/x_f32]"));
  ExpectRefused(nested, 4, "(did you mean 'nested/deeper/x_f32'?)", Out());
}

// uint8 rows reach a TorchScript model as uint8 unless the job casts them:
// the model's own error gains the keys that fix it, at planning (--dry-run too).
TEST_F(E2E, Uint8IntoAFloatModelPointsAtInputDtypeAndScale) {
  const auto job = WriteJob(dir_, "mlp.pt", "[x_u8]");
  for (const std::vector<std::string>& args : {std::vector<std::string>{"--dry-run"}, std::vector<std::string>{}}) {
    auto r = RunMpsbatch(2, job, args);
    ExpectRefused(r, 5, "Input 'x_u8' is stored as uint8 and reaches the model as uint8", Out());
    EXPECT_NE(r.output.find("set input.dtype: float32 and, for 8-bit images, input.scale: 0.00392156862745098"),
              std::string::npos)
        << r.output;
  }
}

TEST_F(E2E, ChannelsLastImagesIntoAChannelsFirstModelPointAtInputLayout) {
  const auto job = WriteJob(dir_, "convnet.pt", "[images]");
  auto r = RunMpsbatch(2, job, {"--set", "input.dtype=float32"});
  ExpectRefused(r, 5, "Input 'images' is [103, 8, 8, 3], which looks channels-last", Out());
  EXPECT_NE(r.output.find("set input.layout: nhwc to hand the model [103, 3, 8, 8]"), std::string::npos) << r.output;
  auto fixed = RunMpsbatch(2, job, {"--set", "input.dtype=float32", "--set", "input.layout=nhwc"});
  EXPECT_RUN_OK(fixed);
}

TEST_F(E2E, AMissingOutputFolderIsCreatedWithItsParents) {
  const std::string out = (dir_ / "results" / "today" / "out.h5").string();
  const auto job = WriteJob(dir_, "mlp.pt", "[x_f32]");
  auto dry = RunMpsbatch(1, job, {"--set", "output.path=" + out, "--dry-run"});
  EXPECT_RUN_OK(dry);
  EXPECT_FALSE(fs::exists(dir_ / "results")) << "a dry run writes nothing";
  auto r = RunMpsbatch(2, job, {"--set", "output.path=" + out});
  EXPECT_RUN_OK(r);
  ExpectNear(ReadFloats(out, "y"), ReadFloats(Fixture("reference.h5"), "mlp_x_f32"), Tolerance());
}

TEST_F(E2E, AnOutputFolderThatCannotBeCreatedIsNamed) {
  testing::WriteFile(dir_ / "results", "a file where the folder would go");
  const std::string out = (dir_ / "results" / "out.h5").string();
  const auto job = WriteJob(dir_, "mlp.pt", "[x_f32]");
  for (const std::vector<std::string>& args : {std::vector<std::string>{"--dry-run"}, std::vector<std::string>{}}) {
    auto a = args;
    a.insert(a.end(), {"--set", "output.path=" + out});
    ExpectRefused(RunMpsbatch(2, job, a), 7, (dir_ / "results").string() + " is a file, not a folder", out);
  }
}

// Names with '/' are datasets in groups, in the dry run and the run alike.
TEST_F(E2E, OutputNamesWithSlashesAreDatasetsInGroups) {
  const auto job = WriteJob(dir_, "two_outputs.pt", "[x_f32]", "[scores/logits, scores/probs]");
  EXPECT_RUN_OK(RunMpsbatch(1, job, {"--dry-run"}));
  auto r = RunMpsbatch(2, job);
  EXPECT_RUN_OK(r);
  ExpectNear(ReadFloats(Out(), "scores/logits"), ReadFloats(Fixture("reference.h5"), "two_outputs_logits"),
             Tolerance());
  ExpectNear(ReadFloats(Out(), "scores/probs"), ReadFloats(Fixture("reference.h5"), "two_outputs_probs"), Tolerance());
}

TEST_F(E2E, OutputNamesTheWriterCannotCreateAreRefusedByTheDryRunToo) {
  const auto job = WriteJob(dir_, "two_outputs.pt", "[x_f32]", "[scores, scores/probs]");
  for (const std::vector<std::string>& args : {std::vector<std::string>{"--dry-run"}, std::vector<std::string>{}})
    ExpectRefused(RunMpsbatch(2, job, args), 3,
                  "output.datasets: 'scores' is a dataset and also the group of 'scores/probs'", Out());
}

TEST_F(E2E, AnOutputPathOfAnotherFormatIsRefused) {
  const std::string out = (dir_ / "scores.parquet").string();
  const auto job = WriteJob(dir_, "mlp.pt", "[x_f32]");
  for (const std::vector<std::string>& args : {std::vector<std::string>{"--dry-run"}, std::vector<std::string>{}}) {
    auto a = args;
    a.insert(a.end(), {"--set", "output.path=" + out});
    ExpectRefused(RunMpsbatch(2, job, a), 3, "output.path: '" + out + "' ends in .parquet, but mpsbatch writes an HDF5",
                  out);
  }
}

}  // namespace mpsbatch
