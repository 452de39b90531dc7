// What --resume trusts: the run identity covers everything that changes the
// numbers (the compiled package, a forced path, the input's modification time
// counted from the Unix epoch), and the journal must be the partial file's
// own, undamaged, listing only chunks whose rows are written.
#include <fcntl.h>
#include <sys/stat.h>

#include <fstream>
#include <regex>

#include "e2e_util.h"

namespace mpsbatch::e2e {

namespace {

// Runs `job` to the end, then puts its output back under the partial name, as
// a run that finished every chunk but the commit would leave it.
void FinishedOutputAsPartial(const fs::path& job, const std::vector<std::string>& args = {}) {
  auto r = RunMpsbatch(2, job, args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  fs::rename(job.parent_path() / "out.h5", job.parent_path() / "out.h5.partial");
}

// A run of the poisoned model that fails on its last chunk (rows 96..103) on
// one rank: the partial file and a journal of the chunks before it stay.
fs::path PoisonedPartial(const fs::path& dir) {
  const auto job = WriteJob(dir, "poisoned.pt", "[x_poisoned]", "[y]", "path: eager\n");
  auto r = RunMpsbatch(1, job, {"--set", "chunk_size=8", "--set", "schedule=static"});
  EXPECT_EQ(r.exit_code, 5) << r.output;
  EXPECT_TRUE(fs::exists(dir / "out.h5.partial.chunks")) << r.output;
  return job;
}

const std::vector<std::string> kResume{"--resume", "--set", "chunk_size=8", "--set", "schedule=static"};

}  // namespace

// input_file.mtime_ns is the input's modification time in nanoseconds since
// the Unix epoch, as stat gives it.
TEST_F(E2E, InputModificationTimeIsCountedFromTheUnixEpoch) {
  auto r = RunMpsbatch(2, WriteJob(dir_, "mlp.pt", "[x_f32]"));
  EXPECT_RUN_OK(r);
  struct stat st {};
  ASSERT_EQ(stat(Fixture("inputs.h5").c_str(), &st), 0);
  const long long ns = static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
  const std::string identity = StringAttribute(Out(), "resume_identity");
  EXPECT_NE(identity.find("input_file.mtime_ns: " + std::to_string(ns) + "\n"), std::string::npos) << identity;
}

TEST_F(E2E, ResumeRefusesATouchedInputNamingBothTimes) {
  fs::copy_file(Fixture("inputs.h5"), dir_ / "inputs.h5");
  const std::string in = (dir_ / "inputs.h5").string();
  const timespec first[2] = {{0, UTIME_OMIT}, {1795791226, 901193168}};
  ASSERT_EQ(utimensat(AT_FDCWD, in.c_str(), first, 0), 0);
  const auto job = WriteJob(dir_, "mlp.pt", "[x_f32]");
  FinishedOutputAsPartial(job, {"--set", "input.path=" + in});
  const timespec later[2] = {{0, UTIME_OMIT}, {1795791300, 5}};
  ASSERT_EQ(utimensat(AT_FDCWD, in.c_str(), later, 0), 0);
  auto r = RunMpsbatch(2, job, {"--resume", "--set", "input.path=" + in});
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("input_file.mtime_ns was '1795791226901193168' when the output was started, is "
                          "'1795791300000000005' now"),
            std::string::npos)
      << r.output;
}

TEST_F(E2E, ResumeRefusesAChangedCompiledPackageNamingIt) {
  const fs::path package = dir_ / "model.pt2";
  testing::WriteFile(package, "one package");
  const auto job = WriteJob(dir_, "mlp.pt", "[x_f32]", "[y]", "path: eager\n");
  const std::vector<std::string> compiled{"--set", "model.compiled=" + package.string()};
  FinishedOutputAsPartial(job, compiled);
  testing::WriteFile(package, "another one");
  auto args = compiled;
  args.push_back("--resume");
  auto r = RunMpsbatch(2, job, args);
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find(": model.compiled.sha256 was '"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(Out()));
}

TEST_F(E2E, ResumeRefusesAnotherForcedPathNamingIt) {
  const auto job = WriteJob(dir_, "mlp.pt", "[x_f32]", "[y]", "path: eager\n");
  FinishedOutputAsPartial(job);
  auto r = RunMpsbatch(2, job, {"--resume", "--set", "path=frozen"});
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find(": path was 'eager' when the output was started, is 'frozen' now"), std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(Out()));
}

TEST_F(E2E, ResumeRefusesAnotherPrecisionNamingIt) {
  const auto job = WriteJob(dir_, "mlp.pt", "[x_f32]", "[y]", "path: eager\n");
  FinishedOutputAsPartial(job);
  auto r = RunMpsbatch(2, job, {"--resume", "--set", "precision=bf16"});
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find(": precision was 'fp32' when the output was started, is 'bf16' now"), std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(Out()));
}

// A journal that lists chunks whose rows were never written (here: every
// chunk id, as bare int64s) is refused with the way to start over: resuming
// from it would commit the unwritten rows as they lie on disk (zeros).
TEST_F(E2E, ResumeRefusesAJournalListingChunksNeverWritten) {
  const auto job = PoisonedPartial(dir_);
  std::vector<int64_t> every(13);
  for (size_t i = 0; i < every.size(); ++i) every[i] = static_cast<int64_t>(i);
  std::ofstream(dir_ / "out.h5.partial.chunks", std::ios::binary)
      .write(reinterpret_cast<const char*>(every.data()), static_cast<std::streamsize>(every.size() * 8));
  auto r = RunMpsbatch(2, job, kResume);
  EXPECT_EQ(r.exit_code, 7) << r.output;
  EXPECT_NE(r.output.find("run with --restart instead of --resume to start over"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(Out()));
}

TEST_F(E2E, ResumeRefusesAJournalOfAnotherRun) {
  fs::create_directories(dir_ / "a");
  fs::create_directories(dir_ / "b");
  const auto job = PoisonedPartial(dir_ / "a");
  PoisonedPartial(dir_ / "b");
  fs::copy_file(dir_ / "b/out.h5.partial.chunks", dir_ / "a/out.h5.partial.chunks",
                fs::copy_options::overwrite_existing);
  auto r = RunMpsbatch(2, job, kResume);
  EXPECT_EQ(r.exit_code, 7) << r.output;
  EXPECT_NE(r.output.find((dir_ / "a/out.h5.partial.chunks").string() + " belongs to another run"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("run with --restart instead of --resume to start over"), std::string::npos) << r.output;
}

TEST_F(E2E, ResumeRefusesADamagedJournalRecord) {
  const auto job = PoisonedPartial(dir_);
  const fs::path journal = dir_ / "out.h5.partial.chunks";
  ASSERT_GE(fs::file_size(journal), 64u) << "two records or more";
  {
    std::fstream f(journal, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(32 + 16 + 2);  // inside the second record's chunk id
    f.put('\x7f');
  }
  auto r = RunMpsbatch(2, job, kResume);
  EXPECT_EQ(r.exit_code, 7) << r.output;
  EXPECT_NE(r.output.find("has a damaged record at byte 48 (record 1)"), std::string::npos) << r.output;
}

// A record cut short by a crash mid-append is ignored, as before: the resume
// goes ahead and scores that chunk again.
TEST_F(E2E, ResumeToleratesATornLastRecord) {
  const auto job = PoisonedPartial(dir_);
  const fs::path journal = dir_ / "out.h5.partial.chunks";
  fs::resize_file(journal, fs::file_size(journal) - 5);
  auto r = RunMpsbatch(2, job, kResume);
  EXPECT_EQ(r.output.find("cannot resume"), std::string::npos) << r.output;
  EXPECT_TRUE(std::regex_search(r.output, std::regex("resume: [1-9][0-9]* of 13 chunks done by an earlier run")))
      << r.output;
  EXPECT_EQ(r.exit_code, 5) << r.output;  // the poisoned rows fail again
}

// A kill while the partial file is created leaves it without its HDF5
// metadata (96 bytes) beside a journal that lists no chunk: --resume starts
// it afresh, saying so, and ends with a clean run's bits, as under
// output.per_input.
TEST_F(E2E, ResumeStartsAfreshAPartialFileKilledAtItsCreation) {
  const auto job = WriteJob(dir_, "mlp.pt", "[x_f32]", "[y]", "path: eager\n");
  auto r = RunMpsbatch(2, job);
  EXPECT_RUN_OK(r);
  const std::string want = ReadFloatsBytes(Out(), "y");
  fs::rename(Out(), Out() + ".partial");
  fs::resize_file(Out() + ".partial", 96);
  testing::WriteFile(Out() + ".partial.chunks", EncodeJournalHeader(NewRunId()));
  r = RunMpsbatch(2, job, {"--resume"});
  EXPECT_RUN_OK(r);
  EXPECT_NE(r.output.find("starting " + Out() + ".partial afresh"), std::string::npos) << r.output;
  EXPECT_EQ(ReadFloatsBytes(Out(), "y"), want);
  EXPECT_FALSE(fs::exists(Out() + ".partial"));
}

}  // namespace mpsbatch::e2e
