// Inputs whose rows live in other files: a dataset behind an external link is
// scored from the link's target, a virtual dataset whose source file is
// missing is an input error naming it, and a source file changed since the
// output was started is refused by --resume.
#include <fcntl.h>
#include <sys/stat.h>

#include "e2e_util.h"
#include "source_files_util.h"

namespace mpsbatch::e2e {

namespace {

// A job scoring `dataset` of `input` with the identity model: y is the rows.
fs::path IdentityJob(const fs::path& dir, const std::string& input, const std::string& dataset) {
  testing::WriteFile(dir / "job.yaml", "model:\n  path: " + Fixture("identity.pt") + "\ndevice: " + TestDevice() +
                                           "\npath: eager\nbatch_size: 8\nchunk_size: 16\ninput:\n  path: " + input +
                                           "\n  datasets: [" + dataset +
                                           "]\noutput:\n  path: out.h5\n  datasets: [y]\n");
  return dir / "job.yaml";
}

}  // namespace

// link.h5's `x` leads to target.h5's `x`, which lies where link.h5 keeps a
// dataset of its own with the same first and last rows: the rows scored must
// be the target's.
TEST_F(E2E, AnExternalLinkIsScoredFromItsTarget) {
  const std::string link = testing::LinkOverATwin(dir_), target = (dir_ / "target.h5").string();
  auto r = RunMpsbatch(2, IdentityJob(dir_, link, "x"));
  EXPECT_RUN_OK(r);
  EXPECT_EQ(ReadFloatsBytes(Out(), "y"), ReadFloatsBytes(target, "x"));
}

// HDF5 reads the rows of a missing source file as the fill value (zeros).
TEST_F(E2E, AMissingVirtualSourceIsAnInputErrorNamingIt) {
  const std::string in = (dir_ / "in.h5").string();
  testing::WriteFloatRows((dir_ / "s1.h5").string(), "a", 50, 4);
  testing::MakeVirtual(in, "v", 100, 4, {{"s1.h5", "a"}, {"s2.h5", "b"}});
  auto r = RunMpsbatch(2, IdentityJob(dir_, in, "v"));
  EXPECT_EQ(r.exit_code, 4) << r.output;
  EXPECT_NE(r.output.find("dataset 'v': its virtual dataset source 'b' in 's2.h5' is missing"), std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(Out()));
}

// A source file rewritten after the output was started (same size, a later
// modification time) is refused by --resume, naming it; the partial file is
// kept. (The partial file here is a finished output under the partial name.)
TEST_F(E2E, ResumeRefusesAChangedVirtualSourceNamingIt) {
  const std::string in = (dir_ / "in.h5").string(), s2 = (dir_ / "s2.h5").string();
  testing::WriteFloatRows((dir_ / "s1.h5").string(), "a", 50, 4);
  testing::WriteFloatRows(s2, "b", 50, 4, 1000);
  testing::MakeVirtual(in, "v", 100, 4, {{"s1.h5", "a"}, {"s2.h5", "b"}});
  const auto job = IdentityJob(dir_, in, "v");
  auto r = RunMpsbatch(2, job);
  EXPECT_RUN_OK(r);
  EXPECT_NE(r.output.find("rows from " + s2 + " (virtual dataset source)"), std::string::npos) << r.output;
  fs::rename(Out(), dir_ / "out.h5.partial");
  testing::WriteFloatRows(s2, "b", 50, 4, 2000);
  struct stat st {};
  ASSERT_EQ(stat(s2.c_str(), &st), 0);
  const timespec later[2] = {{0, UTIME_OMIT}, {st.st_mtim.tv_sec + 5, st.st_mtim.tv_nsec}};
  ASSERT_EQ(utimensat(AT_FDCWD, s2.c_str(), later, 0), 0);
  r = RunMpsbatch(2, job, {"--resume"});
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("cannot resume " + (dir_ / "out.h5.partial").string() + ": input.source " + s2 + " was '"),
            std::string::npos)
      << r.output;
  EXPECT_TRUE(fs::exists(dir_ / "out.h5.partial"));
  EXPECT_FALSE(fs::exists(Out()));
}

}  // namespace mpsbatch::e2e
