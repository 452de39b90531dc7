#include "plan/shard_outputs.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "common/error.h"
#include "plan/resume_identity.h"
#include "test_util.h"

namespace mpsbatch {
namespace {

std::vector<InputShard> Files(const std::vector<std::string>& paths) {
  std::vector<InputShard> files;
  for (const auto& p : paths) files.push_back({p, 4, {}});
  return files;
}

std::string ErrorOf(const std::string& pattern, const std::vector<std::string>& paths) {
  try {
    ShardOutputPaths(pattern, Files(paths));
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ShardOutputs, OnePathPerInputFileInOrder) {
  EXPECT_EQ(ShardOutputPaths("/o/{stem}.h5", Files({"/d/a.h5", "/d/b.h5"})),
            (std::vector<std::string>{"/o/a.h5", "/o/b.h5"}));
  EXPECT_EQ(ShardOutputPaths("/o/{index}.h5", Files({"/d/x.h5", "/e/x.h5"})),
            (std::vector<std::string>{"/o/0.h5", "/o/1.h5"}));
}

TEST(ShardOutputs, RefusesTwoInputsOnOneOutputNamingBoth) {
  const std::string e = ErrorOf("/o/{stem}.h5", {"/d/x.h5", "/d/y.h5", "/e/x.h5"});
  EXPECT_NE(e.find("names one output, /o/x.h5, for input files /d/x.h5 and /e/x.h5; add {index} to the name"),
            std::string::npos)
      << e;
}

TEST(ShardOutputs, RefusesAnOutputOnItsInput) {
  const std::string e = ErrorOf("/d/{name}", {"/d/x.h5"});
  EXPECT_NE(e.find("names input file /d/x.h5 itself as its output"), std::string::npos) << e;
}

std::string GlobError(const std::string& pattern, const std::vector<std::string>& inputs,
                      const std::vector<std::string>& entries) {
  try {
    CheckOutputsBeyondInputGlobs(pattern, ShardOutputPaths(pattern, Files(inputs)), Files(inputs), entries);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

// An output the input's glob matches would be read as an input file by the
// next run of the job (a --resume, or a run after more shards arrived): it is
// refused on the first run, naming the file, its input file and the glob. So
// are the side files a stopped run leaves beside an output; a literal entry
// and outputs elsewhere are not.
TEST(ShardOutputs, RefusesAnOutputTheInputGlobMatches) {
  std::string e = GlobError("/d/{stem}.out.h5", {"/d/a.h5", "/d/b.h5"}, {"/d/*.h5"});
  EXPECT_NE(e.find("output.path: '/d/{stem}.out.h5' names /d/a.out.h5, the output of input file /d/a.h5, which "
                   "input.path's glob '/d/*.h5' matches: a later run of this job"),
            std::string::npos)
      << e;
  e = GlobError("/d/scores-{stem}.h5", {"/d/part-0.h5"}, {"/d/part-*"});
  EXPECT_EQ(e, "(no error)");
  e = GlobError("/d/{index}.h5", {"/d/a.h5.1"}, {"/d/*.h5.*"});
  EXPECT_NE(e.find("names /d/0.h5.partial, a side file of /d/0.h5, the output of input file /d/a.h5.1"),
            std::string::npos)
      << e;
  EXPECT_EQ(GlobError("/o/{stem}.h5", {"/d/a.h5"}, {"/d/*.h5", "/o/x.h5"}), "(no error)");
  EXPECT_EQ(GlobError("/d/sub/{stem}.h5", {"/d/a.h5"}, {"/d/*"}), "(no error)");
  EXPECT_NE(GlobError("/d/sub/{stem}.h5", {"/d/a.h5"}, {"/d/*/*.h5", "/d/*.h5"}).find("glob '/d/*/*.h5'"),
            std::string::npos);
}

// An input file named like the pattern would get the pattern itself as its
// output, and with it the lock file the job holds for the pattern: refused,
// rather than the job taking itself for another run.
TEST(ShardOutputs, RefusesAnOutputNamedLikeThePattern) {
  const std::string e = ErrorOf("/o/{stem}.h5", {"/d/a.h5", "/d/{stem}.h5"});
  EXPECT_NE(e.find("output.path: '/o/{stem}.h5' names the output of input file /d/{stem}.h5 '/o/{stem}.h5', the "
                   "pattern itself"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("add {index} to the name (e.g. /o/{index}-{stem}.h5)"), std::string::npos) << e;
  EXPECT_EQ(ErrorOf("/o/{index}-{stem}.h5", {"/d/a.h5", "/d/{stem}.h5"}), "(no error)");
}

// Every expanded name is one a single output.path could have: an HDF5 suffix
// or none, one file name (not the folder or its parent). The refusal names
// the input file, the name and the fix.
TEST(ShardOutputs, RefusesAnExpandedNameASingleOutputCouldNotHave) {
  std::string e = ErrorOf("/o/{name}", {"/d/a.h5", "/d/data.bin"});
  EXPECT_NE(e.find("output.path: '/o/{name}' names the output of input file /d/data.bin /o/data.bin, which ends in "
                   ".bin, but mpsbatch writes HDF5 files; end the pattern's file name in .h5 (e.g. /o/{stem}.h5)"),
            std::string::npos)
      << e;
  e = ErrorOf("/o/{name}", {"/d/part.hdf5.gz"});
  EXPECT_NE(e.find("input file /d/part.hdf5.gz /o/part.hdf5.gz, which ends in .gz"), std::string::npos) << e;
  e = ErrorOf("/o/{stem}", {"/d/scores.2024.h5"});
  EXPECT_NE(e.find("/o/scores.2024, which ends in .2024"), std::string::npos) << e;
  // A folder's name: "...".stem() is "..", "..h5".stem() is ".".
  e = ErrorOf("/o/{stem}", {"/d/..."});
  EXPECT_NE(e.find("names the output of input file /d/... /o/.., which is a folder's name, not a file's; end the "
                   "pattern's file name in .h5 (e.g. /o/{stem}.h5)"),
            std::string::npos)
      << e;
  e = ErrorOf("/o/{stem}", {"/d/..h5"});
  EXPECT_NE(e.find("input file /d/..h5 /o/., which is a folder's name"), std::string::npos) << e;
  // The name of another output's side file.
  e = ErrorOf("/o/x-{name}", {"/d/a.h5.lock"});
  EXPECT_NE(e.find("/o/x-a.h5.lock, which ends in .lock, the name of a file mpsbatch keeps beside an output while it "
                   "is written; end the pattern's file name in .h5 (e.g. /o/x-{stem}.h5)"),
            std::string::npos)
      << e;
  // What a single output.path may be, an expanded name may be.
  EXPECT_EQ(ShardOutputPaths("/o/{stem}", Files({"/d/a.h5", "/d/part.hdf5.gz"})),
            (std::vector<std::string>{"/o/a", "/o/part.hdf5"}));
  EXPECT_EQ(ShardOutputPaths("/o/{name}", Files({"/d/a.he5", "/d/b.hdf"})),
            (std::vector<std::string>{"/o/a.he5", "/o/b.hdf"}));
}

// A per-input job's planning learns whether the output folder is writable
// without a file per output: a dry run creates nothing in it, a run at most
// one probe file (beside its lock) however many outputs it has.
TEST(ShardOutputs, PlanningChecksTheFolderOnceAndADryRunCreatesNothing) {
  const auto dir = testing::TestDir();
  std::filesystem::create_directories(dir / "o");
  JobConfig job;
  job.output.path = (dir / "o" / "{stem}.h5").string();
  job.output.per_input = true;
  std::vector<std::string> inputs;
  for (int i = 0; i < 512; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "part-%04d.h5", i);
    inputs.push_back((dir / "data" / name).string());
  }
  testing::FolderWatch watch(dir / "o");
  std::unique_ptr<OutputLock> lock;
  EXPECT_EQ(PlanShardOutputs(job, Files(inputs), {}, false, true, lock).size(), 512u);
  EXPECT_EQ(lock, nullptr);
  const std::vector<std::string> dry = watch.Created();
  EXPECT_TRUE(dry.empty()) << dry.size() << " files created, the first " << dry.front();

  EXPECT_EQ(PlanShardOutputs(job, Files(inputs), {}, false, false, lock).size(), 512u);
  const std::vector<std::string> run = watch.Created();
  EXPECT_LE(std::count_if(run.begin(), run.end(), [](const std::string& n) { return n != "{stem}.h5.lock"; }), 1)
      << run.size() << " files created";
}

TEST(ShardOutputs, FirstChunkOfEachFileSkipsFilesWithoutRows) {
  // Rows 5, 0, 3 in chunks of 2: chunks 0-2 are file 0's, 3-4 file 2's.
  const ChunkPlan chunks(std::vector<int64_t>{5, 0, 3}, 2, 1);
  EXPECT_EQ(FileFirstChunks(chunks, 3), (std::vector<int64_t>{0, 3, 3, 5}));
}

// What an earlier run left of each file is judged by that file's identity:
// a change of another file's input concerns it not; a change of its own
// input starts a partial file afresh, and scores a committed one again with
// output.overwrite or refuses it, naming the input, the output and the fix;
// a change of the job's settings is refused for any file.
TEST(ShardOutputs, EachFileIsJudgedByItsOwnInputFile) {
  JobConfig job;
  job.output.per_input = true;
  JobPlan then;
  then.model_sha256 = "aaa";
  then.input_files = {{"/d/a.h5", 4, {10, 1}}, {"/d/b.h5", 4, {10, 2}}, {"/d/c.h5", 4, {10, 3}}};
  auto earlier = [&](const JobPlan& plan, size_t i, bool committed) {
    ShardOutput out;
    out.path = "/o/" + std::to_string(i) + ".h5";
    out.earlier =
        PartialState{ShardIdentity(job, plan, i), 2, committed ? std::vector<int64_t>{} : std::vector<int64_t>{0}, {}};
    out.committed = committed;
    return out;
  };
  JobPlan now = then;
  now.input_files[1].stamp.mtime_ns = 20;
  now.input_files[2].stamp.mtime_ns = 30;
  std::vector<ShardOutput> outputs{earlier(then, 0, true), earlier(then, 1, true), earlier(then, 2, false)};
  try {
    CheckShardIdentities(outputs, job, now, ResumeIdentity(job, now, 0));
    FAIL() << "a changed input under a committed file without output.overwrite";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot resume: /o/1.h5 no longer matches its input file /d/b.h5 (input file "
                                         "/d/b.h5 was 'rows 4, size 10, mtime_ns 2' when the output was started, is "
                                         "'rows 4, size 10, mtime_ns 20' now); set output.overwrite: true"),
              std::string::npos)
        << e.what();
  }
  job.output.overwrite = true;
  outputs = {earlier(then, 0, true), earlier(then, 1, true), earlier(then, 2, false)};
  CheckShardIdentities(outputs, job, now, ResumeIdentity(job, now, 0));
  EXPECT_TRUE(outputs[0].committed);
  EXPECT_TRUE(outputs[0].earlier.has_value());
  EXPECT_FALSE(outputs[1].committed);
  EXPECT_FALSE(outputs[1].earlier.has_value());
  EXPECT_FALSE(outputs[2].earlier.has_value());
  EXPECT_EQ(outputs[2].identity, ShardIdentity(job, now, 2));

  now.model_sha256 = "bbb";
  outputs = {earlier(then, 0, true)};
  EXPECT_THROW(CheckShardIdentities(outputs, job, now, ResumeIdentity(job, now, 0)), ConfigError);
}

}  // namespace
}  // namespace mpsbatch
