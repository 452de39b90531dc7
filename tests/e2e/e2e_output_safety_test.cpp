// The output side never destroys or misreports a user's file: a second run on
// the same output is refused before it touches the first one's files; an
// output that is the input or the model, a symbolic link, or a rerun that
// would throw away an interrupted run's saved chunks, is refused at the start;
// an input that is not a regular file is an input error, not a hang; a dry
// run creates nothing in the output folder.
#include <sys/stat.h>

#include <regex>

#include "e2e_util.h"
#include "source_files_util.h"
#include "write/output_lock.h"

namespace mpsbatch::e2e {
namespace {

// The float dataset `dataset` of `path`, or why it cannot be read.
std::string ReadError(const std::string& path, const std::string& dataset) {
  try {
    ReadFloats(path, dataset);
    return "";
  } catch (const std::exception& e) {
    return e.what();
  }
}

// Runs `argv` under mpiexec with `ranks` ranks and `env` (NAME=VALUE words)
// set, in the background.
pid_t StartJob(int ranks, const fs::path& job, const std::vector<std::string>& args, const fs::path& log,
               const std::vector<std::string>& env) {
  std::vector<std::string> argv{"env"};
  argv.insert(argv.end(), env.begin(), env.end());
  auto mpi = MpiexecPrefix(ranks);
  auto tail = MpsbatchArgs(job, args);
  argv.insert(argv.end(), mpi.begin(), mpi.end());
  argv.insert(argv.end(), tail.begin(), tail.end());
  return Start(argv, log);
}

// Run A scores a slow job; run B, started once A scores, names the same
// output. B is refused, naming A's rank 0, and touches nothing of A's; A
// finishes with the right rows. With and without HDF5's own file locks.
class TwoRunsOneOutput : public ::testing::TestWithParam<bool> {};

TEST_P(TwoRunsOneOutput, TheSecondIsRefusedAndTheFirstCompletes) {
  SilenceHdf5Errors();
  const auto dir = testing::TestDir();
  const std::vector<std::string> env{GetParam() ? "HDF5_USE_FILE_LOCKING=TRUE" : "HDF5_USE_FILE_LOCKING=FALSE"};
  fs::create_directories(dir / "a");
  fs::create_directories(dir / "b");
  const std::string out = (dir / "a" / "out.h5").string();
  const auto job_a = WriteJob(dir / "a", "slow.pt", "[x_f32]", "[y]", "path: eager\n");
  const auto job_b = WriteJob(dir / "b", "mlp.pt", "[x_f32]");
  const fs::path log_a = dir / "a.log";
  const pid_t a = StartJob(2, job_a, {"--set", "batch_size=1", "--set", "chunk_size=1"}, log_a, env);
  while (testing::ReadFile(log_a).find("calibration: ") == std::string::npos && Running(a))
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  pid_t a_rank0 = 0;
  for (const auto& [pid, rank] : RankProcesses(job_a.string()))
    if (rank == 0) a_rank0 = pid;

  const pid_t b =
      StartJob(2, job_b, {"--set", "output.path=" + out, "--set", "output.overwrite=true"}, dir / "b.log", env);
  const RunResult rb = Wait(b, dir / "b.log", 120);
  const bool a_was_running = Running(a);
  const RunResult ra = Wait(a, log_a, 300);

  ASSERT_TRUE(a_was_running) << "run A ended before run B did: the test proves nothing\n" << ra.output;
  EXPECT_EQ(rb.exit_code, 7) << rb.output;
  EXPECT_NE(rb.output.find("rank 0 failed in plan: output error: output.path '" + out +
                           "': another run is writing this output (host "),
            std::string::npos)
      << rb.output;
  if (a_rank0 != 0) {
    EXPECT_NE(rb.output.find(", pid " + std::to_string(a_rank0) + " holds the lock file"), std::string::npos)
        << rb.output;
  }
  EXPECT_RUN_OK(ra);
  ASSERT_EQ(ReadError(out, "y"), "");
  ExpectNear(ReadFloats(out, "y"), ReadFloats(Fixture("reference.h5"), "slow_x_f32"), Tolerance());
  EXPECT_FALSE(fs::exists(out + ".lock"));
}

INSTANTIATE_TEST_SUITE_P(E2E, TwoRunsOneOutput, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "Hdf5Locks" : "NoHdf5Locks"; });

// output.path (or its partial file) the same file as the input or the model,
// under another name: refused before anything is written, the file intact.
TEST_F(E2E, AnOutputThatIsAnInputIsRefused) {
  const fs::path input = dir_ / "in.h5";
  fs::copy_file(Fixture("inputs.h5"), input);
  const std::string before = testing::ReadFile(input);
  fs::create_hard_link(input, dir_ / "same.h5");
  const auto job = WriteJob(dir_, "mlp.pt", "[x_f32]");
  const std::vector<std::string> base{"--set", "input.path=" + input.string(), "--set", "output.overwrite=true"};

  for (const std::string& output : {input.string(), (dir_ / "same.h5").string()}) {
    auto args = base;
    args.insert(args.end(), {"--set", "output.path=" + output});
    auto r = RunMpsbatch(2, job, args);
    EXPECT_EQ(r.exit_code, 7) << r.output;
    EXPECT_NE(r.output.find("output.path '" + output + "' is the same file as input.path '" + input.string() + "'"),
              std::string::npos)
        << r.output;
  }
  EXPECT_TRUE(testing::ReadFile(input) == before) << "the input was changed";

  fs::create_hard_link(input, dir_ / "x.h5.partial");
  auto args = base;
  args.insert(args.end(), {"--set", "output.path=" + (dir_ / "x.h5").string()});
  auto r = RunMpsbatch(2, job, args);
  EXPECT_EQ(r.exit_code, 7) << r.output;
  EXPECT_NE(r.output.find("its partial file " + (dir_ / "x.h5.partial").string() + " is the same file as input.path"),
            std::string::npos)
      << r.output;
  EXPECT_TRUE(testing::ReadFile(input) == before) << "the input was changed";

  const fs::path model = dir_ / "model.pt";
  fs::copy_file(Fixture("mlp.pt"), model);
  const std::string model_before = testing::ReadFile(model);
  // The model's own name is refused for its suffix; under an HDF5 name (a
  // hard link) as the same file.
  r = RunMpsbatch(2, job,
                  {"--set", "model.path=" + model.string(), "--set", "output.path=" + model.string(), "--set",
                   "output.overwrite=true"});
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("ends in .pt, but mpsbatch writes an HDF5 file"), std::string::npos) << r.output;
  fs::create_hard_link(model, dir_ / "model.h5");
  r = RunMpsbatch(2, job,
                  {"--set", "model.path=" + model.string(), "--set", "output.path=" + (dir_ / "model.h5").string(),
                   "--set", "output.overwrite=true"});
  EXPECT_EQ(r.exit_code, 7) << r.output;
  EXPECT_NE(r.output.find("is the same file as model.path"), std::string::npos) << r.output;
  EXPECT_TRUE(testing::ReadFile(model) == model_before) << "the model was changed";
}

// The file an input's rows come from through an external link is no output
// either (it was replaced, and the run exited 0); nor is a name mpsbatch
// gives another output's partial file, journal or lock, whose run's lock
// would not keep this one out.
TEST_F(E2E, AnOutputThatIsAnInputsSourceOrAnotherOutputsSideFileIsRefused) {
  const std::string data = (dir_ / "data.h5").string(), in = (dir_ / "in.h5").string();
  testing::WriteFloatRows(data, "x", 100, 4);
  {
    H5Handle file(H5Fcreate(in.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
    ASSERT_GE(H5Lcreate_external("data.h5", "/x", file.get(), "x", H5P_DEFAULT, H5P_DEFAULT), 0);
  }
  const std::string before = testing::ReadFile(data);
  const auto job = WriteJob(dir_, "identity.pt", "[x]");
  auto r = RunMpsbatch(2, job,
                       {"--set", "input.path=" + in, "--set", "output.path=" + data, "--set", "output.overwrite=true"});
  EXPECT_EQ(r.exit_code, 7) << r.output;
  EXPECT_NE(r.output.find("is the same file as input.path's external link target"), std::string::npos) << r.output;
  EXPECT_TRUE(testing::ReadFile(data) == before) << "the input's rows were changed";

  for (const std::string suffix : {".partial", ".partial.chunks", ".lock"}) {
    r = RunMpsbatch(1, WriteJob(dir_, "mlp.pt", "[x_f32]"),
                    {"--set", "output.path=" + (dir_ / ("x.h5" + suffix)).string()});
    EXPECT_EQ(r.exit_code, 7) << r.output;
    EXPECT_NE(r.output.find("ends in '" + suffix + "'"), std::string::npos) << r.output;
  }
}

// A dry run writes nothing, the output's lock included: it neither waits for
// nor blocks a run writing the same output.
TEST_F(E2E, ADryRunTakesNoLock) {
  const auto job = WriteJob(dir_, "mlp.pt", "[x_f32]");
  OutputLock running(Out());
  auto r = RunMpsbatch(1, job, {"--dry-run"});
  EXPECT_RUN_OK(r);
  EXPECT_NE(r.output.find("dry run: nothing written"), std::string::npos) << r.output;
}

TEST_F(E2E, AFifoAsInputIsAnInputError) {
  const fs::path fifo = dir_ / "in.h5";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0644), 0);
  auto r = RunMpsbatch(2, WriteJob(dir_, "mlp.pt", "[x_f32]"), {"--set", "input.path=" + fifo.string()}, 60);
  EXPECT_EQ(r.exit_code, 4) << r.output;
  EXPECT_NE(r.output.find("input.path '" + fifo.string() + "': is a FIFO (named pipe), not a regular file"),
            std::string::npos)
      << r.output;
}

// A run that failed while scoring keeps its chunks; a run of the same output
// without --resume refuses to throw them away, and names both ways on; with
// --restart it starts again.
TEST_F(E2E, ARerunKeepsSavedChunksUnlessToldToRestart) {
  const auto failed = RunMpsbatch(2, WriteJob(dir_, "poisoned.pt", "[x_poisoned]"), {"--set", "chunk_size=8"});
  ASSERT_NE(failed.exit_code, 0) << failed.output;
  ASSERT_TRUE(fs::exists(Out() + ".partial")) << failed.output;
  ASSERT_TRUE(fs::exists(Out() + ".partial.chunks")) << failed.output;
  const std::string partial = testing::ReadFile(Out() + ".partial");
  const std::string journal = testing::ReadFile(Out() + ".partial.chunks");

  const auto job = WriteJob(dir_, "mlp.pt", "[x_f32]");
  auto r = RunMpsbatch(2, job);
  EXPECT_EQ(r.exit_code, 7) << r.output;
  EXPECT_NE(r.output.find("an earlier run of it was interrupted and left " + Out() + ".partial and " + Out() +
                          ".partial.chunks: run again with --resume to keep its finished chunks and score only the "
                          "rest, or with --restart to discard them and start again"),
            std::string::npos)
      << r.output;
  EXPECT_TRUE(testing::ReadFile(Out() + ".partial") == partial) << "the partial file was changed";
  EXPECT_TRUE(testing::ReadFile(Out() + ".partial.chunks") == journal) << "the journal was changed";
  EXPECT_FALSE(fs::exists(Out()));

  r = RunMpsbatch(2, job, {"--restart", "--resume"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--restart discards"), std::string::npos) << r.output;

  r = RunMpsbatch(2, job, {"--restart"});
  EXPECT_RUN_OK(r);
  ExpectNear(ReadFloats(Out(), "y"), ReadFloats(Fixture("reference.h5"), "mlp_x_f32"), Tolerance());
  EXPECT_FALSE(fs::exists(Out() + ".partial"));
}

// output.path a symbolic link: refused at the start, whether its target
// exists (the rename would replace the link, not write the target) or not
// (it would be refused only at the end, as a file that appeared meanwhile).
TEST_F(E2E, AnOutputThatIsASymbolicLinkIsRefusedAtTheStart) {
  const auto job = WriteJob(dir_, "mlp.pt", "[x_f32]");
  testing::WriteFile(dir_ / "target.h5", "keep me");
  fs::create_symlink(dir_ / "target.h5", dir_ / "link.h5");
  fs::create_symlink(dir_ / "nowhere.h5", dir_ / "dangling.h5");
  for (const auto& [link, overwrite] : {std::pair{"link.h5", "true"}, std::pair{"dangling.h5", "false"}}) {
    const std::string path = (dir_ / link).string();
    auto r =
        RunMpsbatch(2, job, {"--set", "output.path=" + path, "--set", std::string("output.overwrite=") + overwrite});
    EXPECT_EQ(r.exit_code, 7) << r.output;
    EXPECT_NE(r.output.find("rank 0 failed in plan: output error: output.path '" + path + "' is a symbolic link"),
              std::string::npos)
        << r.output;
    EXPECT_EQ(r.output.find("engines:"), std::string::npos) << "refused only after planning:\n" << r.output;
    EXPECT_TRUE(fs::is_symlink(fs::symlink_status(path)));
  }
  EXPECT_EQ(testing::ReadFile(dir_ / "target.h5"), "keep me");
  EXPECT_FALSE(fs::exists(dir_ / "nowhere.h5"));
}

// A dry run checks that the output folder is writable without creating
// anything in it.
TEST_F(E2E, ADryRunCreatesNothingInTheOutputFolder) {
  fs::create_directories(dir_ / "o");
  const auto job = WriteJob(dir_, "mlp.pt", "[x_f32]");
  const std::vector<std::string> args{"--dry-run", "--set", "output.path=" + (dir_ / "o" / "out.h5").string()};
  testing::FolderWatch watch(dir_ / "o");
  const auto r = RunMpsbatch(1, job, args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::vector<std::string> created = watch.Created();
  EXPECT_TRUE(created.empty()) << created.size() << " files created in the output folder, the first " << created[0];
}

// The dry run's check that writes nothing still refuses a folder on a
// read-only mount, which root may not write either.
TEST_F(E2E, ADryRunRefusesAReadOnlyOutputFolder) {
  if (Spawn({"unshare", "-m", "true"}, dir_ / "probe.log", 30).exit_code != 0)
    GTEST_SKIP() << "mount namespaces are not available here";
  fs::create_directories(dir_ / "o");
  const auto job = WriteJob(dir_, "mlp.pt", "[x_f32]");
  const std::string out = (dir_ / "o" / "out.h5").string();
  std::vector<std::string> argv{"unshare",
                                "-m",
                                "--propagation",
                                "private",
                                "sh",
                                "-c",
                                "mount --bind -o ro \"$0\" \"$0\" && exec \"$@\"",
                                (dir_ / "o").string()};
  const auto run = MpirunArgs(1, job, {"--dry-run", "--set", "output.path=" + out});
  argv.insert(argv.end(), run.begin(), run.end());
  const auto r = Spawn(argv, dir_ / "run.log", 120);
  EXPECT_EQ(r.exit_code, 7) << r.output;
  EXPECT_NE(r.output.find("output.path '" + out + "': folder " + (dir_ / "o").string() +
                          " is not writable: Read-only file system"),
            std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace mpsbatch::e2e
