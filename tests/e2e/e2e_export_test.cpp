// End to end: models exported by the export helper (scripts/export_model.py,
// installed as mpsbatch-export) from a factory or a torch.save checkpoint
// score as the eager model does in Python; the helper refuses an example that
// would fix the batch at 1 row; mpsbatch refuses a job that does not feed what
// the model was exported for, and a torch.save checkpoint given as the model,
// each with the fix. An export that fails its check against eager, whose
// package cannot be loaded, or that is stopped, leaves the output path as it
// was. The models and references: tests/e2e/export_models.py.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <string>
#include <vector>

#include "e2e_util.h"

namespace mpsbatch {

using namespace e2e;

namespace {

class Export : public E2E {
 protected:
  void SetUp() override {
    E2E::SetUp();
    // The helper imports the tests' models (export_models:sequential ...).
    setenv("PYTHONPATH", MPSBATCH_TESTS_DIR "/e2e", 1);
    const RunResult made = Python({MPSBATCH_TESTS_DIR "/e2e/export_models.py", "make", dir_.string()}, "make");
    ASSERT_EQ(made.exit_code, 0) << made.output;
  }

  RunResult Python(std::vector<std::string> args, const std::string& log, int timeout_s = 300) {
    args.insert(args.begin(), MPSBATCH_PYTHON_BIN);
    return Spawn(args, dir_ / (log + ".log"), timeout_s);
  }

  // mpsbatch-export with `args`.
  RunResult ExportModel(const std::vector<std::string>& args, int timeout_s = 300) {
    std::vector<std::string> all{MPSBATCH_SOURCE_DIR "/scripts/export_model.py"};
    all.insert(all.end(), args.begin(), args.end());
    return Python(all, "export", timeout_s);
  }

  static bool IsPackage(const std::string& model) { return model.ends_with(".pt2"); }

  // A job in dir_ that scores data.h5's `datasets` with `model` (on the eager
  // path where there is a choice).
  fs::path Job(const std::string& name, const std::string& model, const std::string& datasets,
               const std::string& outputs, const std::string& extra = "") {
    const fs::path job = dir_ / name;
    testing::WriteFile(job, "model: {path: " + model + "}\ndevice: " + TestDevice() + "\nbatch_size: 8\n" +
                                (IsPackage(model) ? "" : "path: eager\n") +
                                "input: {path: data.h5, datasets: " + datasets + extra +
                                "}\noutput: {path: out.h5, datasets: " + outputs + ", overwrite: true}\n");
    return job;
  }

  fs::path SeqJob(const std::string& model) {
    return Job("seq.yaml", model, "[images]", "[logits]", ", scale: 0.0625");
  }
  fs::path TwoJob(const std::string& model) { return Job("two.yaml", model, "[features, mask]", "[score, count]"); }

  std::string P(const std::string& name) const { return (dir_ / name).string(); }

  // Python code that runs first in the helper's package check (the process
  // it starts with `-c`), through a sitecustomize.py on PYTHONPATH.
  void HookPackageCheck(const std::string& code) {
    fs::create_directories(dir_ / "hook");
    testing::WriteFile(dir_ / "hook" / "sitecustomize.py",
                       "import os, signal, sys, time\nif sys.argv[0] == '-c':\n" + code);
    setenv("PYTHONPATH", (MPSBATCH_TESTS_DIR "/e2e:" + (dir_ / "hook").string()).c_str(), 1);
  }

  // `name` in its own folder, holding an earlier model file.
  std::string EarlierModel(const std::string& name) {
    fs::create_directories(dir_ / "models");
    testing::WriteFile(dir_ / "models" / name, "an earlier model");
    return (dir_ / "models" / name).string();
  }

  // The export failed with one line, and left the earlier model (and nothing else) in its folder.
  static void ExpectEarlierModelKept(const RunResult& e, const std::string& model) {
    EXPECT_EQ(e.output.find("Traceback"), std::string::npos) << e.output;
    EXPECT_TRUE(testing::ReadFile(model) == "an earlier model") << "the earlier model was replaced or removed\n"
                                                                << e.output;
    std::vector<std::string> left;
    for (const auto& f : fs::directory_iterator(fs::path(model).parent_path())) left.push_back(f.path().string());
    EXPECT_EQ(left, std::vector<std::string>{model}) << e.output;
  }

  void ExpectSequentialScores() {
    ExpectNear(ReadFloats(Out(), "logits"), ReadFloats(P("reference.h5"), "seq_logits"), Tolerance());
  }

  void ExpectTwoInputsScores() {
    ExpectNear(ReadFloats(Out(), "score"), ReadFloats(P("reference.h5"), "two_score"), Tolerance());
    InputFile got(Out()), want(P("reference.h5"));
    const HostArray g = got.ReadRows(got.Describe("count"), 0, 37),
                    w = want.ReadRows(want.Describe("two_count"), 0, 37);
    EXPECT_EQ(g.dtype, DType::kInt64);
    EXPECT_TRUE(g.bytes.size() == w.bytes.size() && std::equal(g.bytes.begin(), g.bytes.end(), w.bytes.begin()))
        << "the mask counts differ from Python's";
  }
};

void ExpectRefused(const RunResult& r, const std::vector<std::string>& parts) {
  EXPECT_EQ(r.exit_code, 5) << r.output;
  for (const auto& p : parts) EXPECT_NE(r.output.find(p), std::string::npos) << "no '" << p << "' in:\n" << r.output;
  EXPECT_EQ(r.output.find("constants.pkl"), std::string::npos) << r.output;
}

}  // namespace

// nn.Sequential's forward takes `input`: an export that hard-codes another
// argument name fails for it.
TEST_F(Export, SequentialFromFactoryToTorchScriptScoresAsPython) {
  const auto job = SeqJob("seq.pt");
  const RunResult e = ExportModel({"export_models:sequential", "--job", job.string(), "-o", P("seq.pt")});
  ASSERT_EQ(e.exit_code, 0) << e.output;
  EXPECT_NE(e.output.find("forward(input float32 [8, 8])"), std::string::npos) << e.output;
  EXPECT_RUN_OK(RunMpsbatch(2, job));
  ExpectSequentialScores();
}

TEST_F(Export, TwoInputsFromWholeModuleCheckpointToTorchScriptScoresAsPython) {
  const auto job = TwoJob("two.pt");
  // Pickled from export_models.py run as a script: its class is __main__.TwoInputs.
  const RunResult e = ExportModel({"--checkpoint", P("two_whole.pt"), "--class", "export_models:TwoInputs", "--job",
                                   job.string(), "-o", P("two.pt")});
  ASSERT_EQ(e.exit_code, 0) << e.output;
  EXPECT_RUN_OK(RunMpsbatch(2, job));
  ExpectTwoInputsScores();
}

TEST_F(Export, TwoInputsFromFactoryWithGivenShapesScoresAsPython) {
  const RunResult e = ExportModel(
      {"export_models:two_inputs", "--input", "features:4x6:float32", "--input", "mask:4x6:int64", "-o", P("two.pt")});
  ASSERT_EQ(e.exit_code, 0) << e.output;
  EXPECT_RUN_OK(RunMpsbatch(1, TwoJob("two.pt")));
  ExpectTwoInputsScores();
}

// AOTInductor compiles with the host's C++ compiler: the one package export
// of the tests, with a long time limit (its ctest's TIMEOUT too).
TEST_F(Export, SequentialFromStateDictToAotiPackageScoresAsPython) {
  if (!MPSBATCH_HAVE_AOTI) GTEST_SKIP() << "this libtorch cannot load AOTInductor packages";
  const auto job = SeqJob("seq.pt2");
  const RunResult e = ExportModel({"--checkpoint", P("seq_state.pt"), "--class", "export_models:sequential", "--device",
                                   TestDevice(), "--job", job.string(), "-o", P("seq.pt2")},
                                  1500);
  ASSERT_EQ(e.exit_code, 0) << e.output;
  EXPECT_RUN_OK(RunMpsbatch(2, job, {}, 300));
  ExpectSequentialScores();
  // The record travels in the package's metadata: a job that feeds uint8 is refused.
  ExpectRefused(RunMpsbatch(1, Job("raw.yaml", "seq.pt2", "[images]", "[logits]"), {"--dry-run"}, 300),
                {"exported for input 0 ('images', forward's 'input') as float32, and the job gives it as uint8",
                 "set input.dtype: float32"});
}

TEST_F(Export, ExportThatDiffersFromEagerLeavesTheEarlierModel) {
  const std::string model = EarlierModel("noisy model.pt");
  const RunResult e = ExportModel({"export_models:noisy", "--input", "x:4x6:float32", "-o", model});
  EXPECT_EQ(e.exit_code, 1) << e.output;
  EXPECT_NE(e.output.find(model + ": output 0 differs from the eager model's"), std::string::npos) << e.output;
  ExpectEarlierModelKept(e, model);
}

// A model path that is a symbolic link (to the current version, say) is
// written through: the link stays, its target gets the model.
TEST_F(Export, ExportWritesThroughASymbolicLink) {
  const std::string model = EarlierModel("v3.pt");
  fs::create_symlink(model, dir_ / "model.pt");
  const RunResult e = ExportModel({"export_models:two_inputs", "--input", "features:4x6:float32", "--input",
                                   "mask:4x6:int64", "-o", P("model.pt")});
  ASSERT_EQ(e.exit_code, 0) << e.output;
  EXPECT_TRUE(fs::is_symlink(dir_ / "model.pt"));
  EXPECT_FALSE(testing::ReadFile(model) == "an earlier model") << "the link's target was not written";
  EXPECT_RUN_OK(RunMpsbatch(1, TwoJob("model.pt")));
  ExpectTwoInputsScores();
}

TEST_F(Export, OutputInAFolderThatDoesNotExistIsRefused) {
  const RunResult e = ExportModel({"export_models:noisy", "--input", "x:4x6:float32", "-o", P("missing/model.pt")});
  EXPECT_EQ(e.exit_code, 1) << e.output;
  EXPECT_NE(e.output.find("mpsbatch-export: -o '" + P("missing/model.pt") + "': cannot write in " + P("missing") +
                          ": No such file or directory"),
            std::string::npos)
      << e.output;
  EXPECT_EQ(e.output.find("Traceback"), std::string::npos) << e.output;
}

TEST_F(Export, PackageThatCannotBeLoadedLeavesTheEarlierModel) {
  if (!MPSBATCH_HAVE_AOTI) GTEST_SKIP() << "this libtorch cannot load AOTInductor packages";
  HookPackageCheck("    os.kill(os.getpid(), signal.SIGKILL)\n");
  const std::string model = EarlierModel("seq model.pt2");
  const RunResult e = ExportModel({"export_models:sequential", "--input", "input:4x8x8:float32", "-o", model}, 1500);
  EXPECT_EQ(e.exit_code, 1) << e.output;
  EXPECT_NE(e.output.find(model + ": the package was compiled, but loading and running it failed (signal 9); not "
                                  "written"),
            std::string::npos)
      << e.output;
  ExpectEarlierModelKept(e, model);
}

// SIGTERM while the package is checked: the check's process ends with the
// helper's, and the output path is left as it was.
TEST_F(Export, StoppedWhileCheckingItsPackageLeavesTheEarlierModel) {
  if (!MPSBATCH_HAVE_AOTI) GTEST_SKIP() << "this libtorch cannot load AOTInductor packages";
  const fs::path pid_file = dir_ / "check.pid";
  HookPackageCheck("    open('" + pid_file.string() +
                   "', 'w').write(str(os.getpid()))\n    os.kill(os.getppid(), signal.SIGTERM)\n    time.sleep(300)\n");
  const std::string model = EarlierModel("seq.pt2");
  const RunResult e = ExportModel({"export_models:sequential", "--input", "input:4x8x8:float32", "-o", model}, 1500);
  EXPECT_EQ(e.exit_code, 128 + SIGTERM) << e.output;
  EXPECT_NE(e.output.find("mpsbatch-export: stopped by SIGTERM"), std::string::npos) << e.output;
  ExpectEarlierModelKept(e, model);
  const pid_t check = std::stoi(testing::ReadFile(pid_file));
  EXPECT_NE(kill(check, 0), 0) << "the check's process " << check << " outlived the helper";
  if (kill(check, 0) == 0) kill(check, SIGKILL);
}

TEST_F(Export, RefusesAnExampleOfOneRow) {
  const RunResult e = ExportModel({"export_models:sequential", "--input", "input:1x8x8:float32", "-o", P("b1.pt")});
  EXPECT_EQ(e.exit_code, 1) << e.output;
  EXPECT_NE(e.output.find("batch of 1 row(s) makes torch.export fix the batch dimension"), std::string::npos)
      << e.output;
  EXPECT_FALSE(fs::exists(P("b1.pt")));
}

// A model that records what it was exported for refuses a job that feeds it
// something else, naming the key; today's models (no record) run as before.
TEST_F(Export, JobThatDoesNotFeedWhatTheModelWasExportedForIsRefused) {
  ASSERT_EQ(ExportModel({"export_models:sequential", "--job", SeqJob("seq.pt").string(), "-o", P("seq.pt")}).exit_code,
            0);
  // Without input.scale the uint8 pixels reach the model as uint8.
  ExpectRefused(RunMpsbatch(1, Job("raw.yaml", "seq.pt", "[images]", "[logits]"), {"--dry-run"}),
                {"model.path '" + P("seq.pt") + "'",
                 "exported for input 0 ('images', forward's 'input') as float32, and the job gives it as uint8",
                 "set input.dtype: float32"});
  // Another dataset of another row shape.
  ExpectRefused(
      RunMpsbatch(1, Job("rows.yaml", "seq.pt", "[features]", "[logits]"), {"--dry-run"}),
      {"exported for input 0 ('features', forward's 'input') in rows of [8, 8], and the job gives rows of [6]"});

  ASSERT_EQ(ExportModel({"export_models:two_inputs", "--job", TwoJob("two.pt").string(), "-o", P("two.pt")}).exit_code,
            0);
  ExpectRefused(RunMpsbatch(1, Job("swapped.yaml", "two.pt", "[mask, features]", "[score, count]"), {"--dry-run"}),
                {"input.datasets lists [mask, features], and the model was exported for [features, mask] in that "
                 "order, forward(features, mask); list input.datasets in forward() order"});
  ExpectRefused(RunMpsbatch(1, Job("one.yaml", "two.pt", "[features]", "[score, count]"), {"--dry-run"}),
                {"the model was exported for 2 input(s), forward(features, mask), and input.datasets names 1"});
  // The precision: a TorchScript model exported at fp32 is cast; one at bf16 is not run at fp32.
  EXPECT_RUN_OK(RunMpsbatch(1, TwoJob("two.pt"), {"--dry-run", "--set", "precision=bf16"}));
}

// torch.save files are what most users hold; libtorch refuses them with
// "PytorchStreamReader failed locating file constants.pkl ... corrupted".
TEST_F(Export, StateDictCheckpointIsRefusedWithTheExportCommand) {
  ExpectRefused(RunMpsbatch(1, SeqJob("seq_state.pt"), {"--dry-run"}),
                {"is a checkpoint written by torch.save (a state_dict, or a dict holding one)",
                 "mpsbatch-export --checkpoint '" + P("seq_state.pt") + "' --class your_module:YourModel"});
}

TEST_F(Export, WholeModuleCheckpointIsRefusedNamingItsClass) {
  ExpectRefused(RunMpsbatch(1, TwoJob("two_whole.pt"), {"--dry-run"}),
                {"is a whole nn.Module (__main__.TwoInputs) pickled by torch.save(model)",
                 "mpsbatch-export --checkpoint '" + P("two_whole.pt") + "' --class your_module:TwoInputs"});
}

TEST_F(Export, LegacyCheckpointIsRefusedWithTheExportCommand) {
  ExpectRefused(RunMpsbatch(1, SeqJob("legacy.pt"), {"--dry-run"}),
                {"is a checkpoint in torch.save's legacy (non-zip) format", "mpsbatch-export --checkpoint"});
}

}  // namespace mpsbatch
