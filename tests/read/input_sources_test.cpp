// The files an input's rows come from besides input.path (read/input_sources.h):
// each listed with its size and modification time, a missing one refused by
// name.
#include "read/input_sources.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "common/error.h"
#include "read/input_file.h"
#include "source_files_util.h"
#include "test_util.h"

namespace mpsbatch {

namespace {

using InputSourcesTest = testing::Hdf5FolderTest;

std::vector<std::string> Paths(const std::vector<SourceFile>& files) {
  std::vector<std::string> out;
  for (const auto& f : files) out.push_back(f.path + " (" + f.role + ")");
  return out;
}

std::string Refusal(const std::string& path, const std::string& dataset) {
  try {
    InputFile(path).SourceFiles(dataset);
  } catch (const InputError& e) {
    return e.what();
  }
  return "(accepted)";
}

}  // namespace

// The modification time is counted from the Unix epoch, as stat gives it.
TEST_F(InputSourcesTest, StampIsSizeAndModificationTimeSinceTheEpoch) {
  const std::string path = Path("a.h5");
  testing::WriteFloatRows(path, "x", 4, 2);
  const timespec times[2] = {{0, UTIME_OMIT}, {1795791226, 901193168}};
  ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
  const auto stamp = StampOf(path);
  ASSERT_TRUE(stamp.has_value());
  EXPECT_EQ(stamp->mtime_ns, 1795791226901193168);
  EXPECT_EQ(stamp->size, static_cast<int64_t>(std::filesystem::file_size(path)));
  EXPECT_FALSE(StampOf(Path("missing.h5")).has_value());
}

TEST_F(InputSourcesTest, ADatasetOfTheFileItselfHasNone) {
  const std::string path = Path("a.h5");
  testing::WriteFloatRows(path, "x", 4, 2);
  testing::MakeVirtual(path, "v", 4, 2, {{".", "x"}});
  InputFile input(path);
  EXPECT_TRUE(input.SourceFiles("x").empty());
  EXPECT_TRUE(input.SourceFiles("v").empty());
}

TEST_F(InputSourcesTest, EverySourceIsListedOnce) {
  const std::string in = Path("in.h5");
  testing::WriteFloatRows(Path("linked.h5"), "x", 4, 2);
  testing::WriteFloatRows(Path("s1.h5"), "a", 2, 2);
  testing::WriteFloatRows(Path("s2.h5"), "b", 2, 2);
  // A virtual dataset over another virtual dataset: its sources count too.
  testing::MakeVirtual(Path("inner.h5"), "inner", 2, 2, {{"s2.h5", "b"}});
  testing::MakeVirtual(in, "v", 4, 2, {{"s1.h5", "a"}, {"inner.h5", "inner"}});
  testing::MakeVirtual(in, "v2", 4, 2, {{"s1.h5", "a"}, {"s1.h5", "a"}});
  {
    H5Handle file(H5Fopen(in.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose);
    ASSERT_GE(H5Lcreate_external("linked.h5", "/x", file.get(), "x", H5P_DEFAULT, H5P_DEFAULT), 0);
  }
  InputFile input(in);
  EXPECT_EQ(Paths(input.SourceFiles("x")), (std::vector<std::string>{Path("linked.h5") + " (external link target)"}));
  EXPECT_EQ(Paths(input.SourceFiles("v")), (std::vector<std::string>{Path("s1.h5") + " (virtual dataset source)",
                                                                     Path("inner.h5") + " (virtual dataset source)",
                                                                     Path("s2.h5") + " (virtual dataset source)"}));
  EXPECT_EQ(Paths(input.SourceFiles("v2")), (std::vector<std::string>{Path("s1.h5") + " (virtual dataset source)"}));
  const auto sources = input.SourceFiles("v");
  EXPECT_EQ(sources[0].stamp, *StampOf(Path("s1.h5")));
}

TEST_F(InputSourcesTest, ExternalStorageIsASource) {
  const std::string in = Path("in.h5");
  const auto cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir_);  // HDF5 finds external storage from the current folder
  testing::MakeExternal(in, "x", 4, 2, "x.raw");
  auto sources = InputFile(in).SourceFiles("x");
  std::filesystem::remove("x.raw");
  const std::string refusal = Refusal(in, "x");
  std::filesystem::current_path(cwd);
  EXPECT_EQ(Paths(sources), (std::vector<std::string>{"x.raw (external storage)"}));
  EXPECT_NE(refusal.find("its external storage file x.raw is missing"), std::string::npos) << refusal;
}

// HDF5 reads the rows of a missing source as the fill value, without a word.
TEST_F(InputSourcesTest, AMissingVirtualSourceIsRefusedByName) {
  const std::string in = Path("in.h5");
  testing::WriteFloatRows(Path("s1.h5"), "a", 2, 2);
  testing::MakeVirtual(in, "v", 4, 2, {{"s1.h5", "a"}, {"gone.h5", "b"}});
  testing::MakeVirtual(in, "w", 4, 2, {{"s1.h5", "a"}, {"s1.h5", "nope"}});
  std::string why = Refusal(in, "v");
  EXPECT_NE(why.find(in + ": dataset 'v': its virtual dataset source 'b' in 'gone.h5' is missing (looked for " +
                     Path("gone.h5")),
            std::string::npos)
      << why;
  EXPECT_NE(why.find("HDF5_VDS_PREFIX"), std::string::npos) << why;
  why = Refusal(in, "w");
  EXPECT_NE(why.find(Path("s1.h5") + " has no dataset 'nope'"), std::string::npos) << why;
}

TEST_F(InputSourcesTest, VirtualSourcesAreFoundWhereHdf5LooksForThem) {
  std::filesystem::create_directories(dir_ / "elsewhere");
  testing::WriteFloatRows(Path("elsewhere/s.h5"), "a", 2, 2);
  std::string tried;
  EXPECT_FALSE(ResolveVirtualSource("s.h5", Path("v.h5"), &tried).has_value());
  EXPECT_EQ(tried, Path("s.h5") + ", s.h5");
  EXPECT_EQ(ResolveVirtualSource("s.h5", Path("elsewhere/v.h5"), &tried), Path("elsewhere/s.h5"));
  EXPECT_EQ(ResolveVirtualSource("/no/such/folder/s.h5", Path("elsewhere/v.h5"), &tried), Path("elsewhere/s.h5"));
  setenv("HDF5_VDS_PREFIX", "/nowhere:${ORIGIN}/elsewhere", 1);
  EXPECT_EQ(ResolveVirtualSource("s.h5", Path("v.h5"), &tried), Path("elsewhere/s.h5"));
  unsetenv("HDF5_VDS_PREFIX");
}

// Virtual datasets and external storage are read through HDF5, never at an
// offset of input.path.
TEST_F(InputSourcesTest, VirtualAndExternalDatasetsAreReadThroughHdf5) {
  const std::string in = Path("in.h5");
  testing::WriteFloatRows(Path("s1.h5"), "a", 2, 2, 100);
  testing::WriteFloatRows(Path("s2.h5"), "b", 2, 2, 200);
  testing::MakeVirtual(in, "v", 4, 2, {{"s1.h5", "a"}, {"s2.h5", "b"}});
  const auto cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir_);
  testing::MakeExternal(in, "e", 4, 2, "e.raw");
  InputFile input(in, {true, 2});
  const DatasetInfo v = input.Describe("v"), e = input.Describe("e");
  const HostArray rows = input.ReadRows(v, 0, 4), raw = input.ReadRows(e, 0, 4);
  const std::string method_v = input.ReadMethod(v), method_e = input.ReadMethod(e);
  std::filesystem::current_path(cwd);
  const auto* f = reinterpret_cast<const float*>(rows.bytes.data());
  EXPECT_EQ(std::vector<float>(f, f + 8), (std::vector<float>{100, 101, 102, 103, 200, 201, 202, 203}));
  const auto* g = reinterpret_cast<const float*>(raw.bytes.data());
  EXPECT_EQ(std::vector<float>(g, g + 8), (std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(method_v, "through HDF5 (virtual or unknown layout)");
  EXPECT_EQ(method_e, "through HDF5 (stored in external files)");
}

}  // namespace mpsbatch
