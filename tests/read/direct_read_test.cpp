// Reading rows straight from the file: every layout it takes gives HDF5's
// bytes, every layout it refuses goes through HDF5, and a short file fails
// with the file's name.
#include "read/direct_read.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <set>

#include "common/error.h"
#include "hdf5/handle.h"
#include "read/input_file.h"
#include "source_files_util.h"
#include "test_util.h"

namespace mpsbatch {

namespace {

using DirectReadTest = testing::Hdf5FolderTest;

using PlistSetup = std::function<void(hid_t dcpl)>;

// Writes `name` of float32 values 0, 1, 2, ... (stored as `type`), with the
// dataset creation properties `setup` makes; `rows_written` < dims[0] leaves
// the rest unwritten (their chunks unallocated).
void Write(const std::string& path, const std::string& name, const std::vector<hsize_t>& dims,
           const PlistSetup& setup = {}, hid_t type = H5T_IEEE_F32LE, hsize_t rows_written = ~hsize_t{0},
           hid_t fcpl = H5P_DEFAULT, hid_t fapl = H5P_DEFAULT) {
  H5Handle file(std::filesystem::exists(path) ? H5Fopen(path.c_str(), H5F_ACC_RDWR, fapl)
                                              : H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl, fapl),
                H5Fclose);
  ASSERT_TRUE(file.valid());
  H5Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  if (setup) setup(dcpl.get());
  H5Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
  H5Handle ds(H5Dcreate2(file.get(), name.c_str(), type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT), H5Dclose);
  ASSERT_TRUE(ds.valid()) << Hdf5Message();
  std::vector<hsize_t> count = dims;
  count[0] = std::min(count[0], rows_written);
  if (count[0] == 0) return;
  hsize_t n = 1;
  for (auto d : count) n *= d;
  std::vector<float> values(n);
  for (hsize_t i = 0; i < n; ++i) values[i] = static_cast<float>(i);
  std::vector<hsize_t> start(dims.size(), 0);
  H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr);
  H5Handle mem(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr), H5Sclose);
  ASSERT_GE(H5Dwrite(ds.get(), H5T_NATIVE_FLOAT, mem.get(), space.get(), H5P_DEFAULT, values.data()), 0);
}

PlistSetup Chunked(std::vector<hsize_t> chunk) {
  return [chunk](hid_t dcpl) { H5Pset_chunk(dcpl, static_cast<int>(chunk.size()), chunk.data()); };
}

// Reads `ranges` of `name` both ways and expects the same bytes; returns how
// the direct reader read it.
std::string ExpectSameAsHdf5(const std::string& path, const std::string& name,
                             const std::vector<std::pair<int64_t, int64_t>>& ranges, int threads = 3) {
  InputFile direct(path, {true, threads});
  InputFile hdf5(path, {false, 1});
  const DatasetInfo info = direct.Describe(name);
  EXPECT_EQ(info.shape, hdf5.Describe(name).shape);
  for (auto [begin, end] : ranges) {
    HostArray a = direct.ReadRows(info, begin, end), b = hdf5.ReadRows(info, begin, end);
    EXPECT_EQ(a.bytes, b.bytes) << name << " rows " << begin << ".." << end;
  }
  return direct.ReadMethod(info);
}

}  // namespace

TEST_F(DirectReadTest, ContiguousAndRowChunkedLayoutsReadDirectly) {
  const std::string path = Path("in.h5");
  Write(path, "contiguous", {10, 3});
  Write(path, "chunked", {10, 3}, Chunked({3, 3}));  // the last chunk is partial
  Write(path, "one_chunk", {10, 3}, Chunked({10, 3}));
  Write(path, "images", {7, 4, 5, 3}, Chunked({2, 4, 5, 3}));
  const std::vector<std::pair<int64_t, int64_t>> ranges = {{0, 10}, {1, 9}, {2, 4}, {3, 6}, {9, 10}, {0, 1}};
  EXPECT_EQ(ExpectSameAsHdf5(path, "contiguous", ranges), "directly (contiguous, 3 thread(s))");
  EXPECT_EQ(ExpectSameAsHdf5(path, "chunked", ranges), "directly (chunks of 3 rows, 3 thread(s))");
  EXPECT_EQ(ExpectSameAsHdf5(path, "one_chunk", ranges), "directly (chunks of 10 rows, 3 thread(s))");
  EXPECT_EQ(ExpectSameAsHdf5(path, "images", {{0, 7}, {1, 6}, {6, 7}}), "directly (chunks of 2 rows, 3 thread(s))");
}

// Past a thousand chunks, looking each chunk up in HDF5 before 1.10.10 costs
// more than reading it (the lookup walks the index from its first chunk):
// there such a dataset goes through HDF5; where HDF5 lists the chunks in one
// pass it is read directly, every chunk where the list put it.
TEST_F(DirectReadTest, ManyChunksReadDirectlyOnlyWhereHdf5ListsThemAtOnce) {
  const std::string path = Path("many.h5");
  Write(path, "many", {3001, 2}, Chunked({2, 2}));  // 1,501 chunks, the last partial
  Write(path, "few", {2000, 2}, Chunked({2, 2}));   // 1,000
  const std::vector<std::pair<int64_t, int64_t>> ranges = {{0, 3001}, {1499, 2801}, {2999, 3001}, {7, 8}};
  const std::string many = ExpectSameAsHdf5(path, "many", ranges);
  if (Hdf5ListsChunks()) {
    EXPECT_EQ(many, "directly (chunks of 2 rows, 3 thread(s))");
  } else {
    EXPECT_NE(many.find("through HDF5 (1501 chunks, and HDF5 "), std::string::npos) << many;
    EXPECT_NE(many.find("HDF5 1.10.10 or later reads them directly"), std::string::npos) << many;
  }
  EXPECT_EQ(ExpectSameAsHdf5(path, "few", {{0, 2000}, {999, 1001}}), "directly (chunks of 2 rows, 3 thread(s))");
}

TEST_F(DirectReadTest, EveryChunkIndexOfTheLatestFormat) {
  // The latest file format indexes chunks by a fixed array, an extensible
  // array (one unlimited dimension), a v2 B-tree (two) or single chunk.
  const std::string path = Path("latest.h5");
  H5Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
  auto unlimited = [](int dims_unlimited) {
    return [dims_unlimited](const std::string& path, const std::string& name, hid_t fapl) {
      H5Handle file(std::filesystem::exists(path) ? H5Fopen(path.c_str(), H5F_ACC_RDWR, fapl)
                                                  : H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl),
                    H5Fclose);
      const hsize_t dims[2] = {11, 4};
      const hsize_t max[2] = {H5S_UNLIMITED, dims_unlimited == 2 ? H5S_UNLIMITED : 4};
      const hsize_t chunk[2] = {4, 4};
      H5Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
      H5Pset_chunk(dcpl.get(), 2, chunk);
      H5Handle space(H5Screate_simple(2, dims, max), H5Sclose);
      H5Handle ds(
          H5Dcreate2(file.get(), name.c_str(), H5T_IEEE_F32LE, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
          H5Dclose);
      std::vector<float> values(44);
      for (int i = 0; i < 44; ++i) values[static_cast<size_t>(i)] = static_cast<float>(i);
      ASSERT_GE(H5Dwrite(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), 0);
    };
  };
  Write(path, "fixed", {11, 4}, Chunked({4, 4}), H5T_IEEE_F32LE, ~hsize_t{0}, H5P_DEFAULT, fapl.get());
  Write(path, "single", {11, 4}, Chunked({11, 4}), H5T_IEEE_F32LE, ~hsize_t{0}, H5P_DEFAULT, fapl.get());
  unlimited(1)(path, "extensible", fapl.get());
  unlimited(2)(path, "btree2", fapl.get());
  for (const char* name : {"fixed", "single", "extensible", "btree2"})
    EXPECT_EQ(ExpectSameAsHdf5(path, name, {{0, 11}, {3, 9}, {10, 11}}).rfind("directly", 0), 0u) << name;
}

TEST_F(DirectReadTest, UserBlockOffsetsAreAbsolute) {
  const std::string path = Path("userblock.h5");
  H5Handle fcpl(H5Pcreate(H5P_FILE_CREATE), H5Pclose);
  H5Pset_userblock(fcpl.get(), 512);
  Write(path, "contiguous", {10, 3}, {}, H5T_IEEE_F32LE, ~hsize_t{0}, fcpl.get());
  Write(path, "chunked", {10, 3}, Chunked({4, 3}));
  EXPECT_EQ(ExpectSameAsHdf5(path, "contiguous", {{0, 10}, {5, 7}}).rfind("directly", 0), 0u);
  EXPECT_EQ(ExpectSameAsHdf5(path, "chunked", {{0, 10}, {5, 7}}).rfind("directly", 0), 0u);
}

TEST_F(DirectReadTest, LargeReadsSplitOverThreads) {
  const std::string path = Path("large.h5");
  Write(path, "contiguous", {4099, 1024});  // 16 MiB and a bit
  Write(path, "chunked", {4099, 1024}, Chunked({100, 1024}));
  for (int threads : {1, 2, 4, 7})
    for (const char* name : {"contiguous", "chunked"})
      EXPECT_EQ(ExpectSameAsHdf5(path, name, {{0, 4099}, {17, 4000}}, threads).rfind("directly", 0), 0u) << name;
}

namespace {

// The threads of /proc/self/task: this process's threads.
std::set<std::string> ThreadIds() {
  std::set<std::string> ids;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task"))
    ids.insert(entry.path().filename().string());
  return ids;
}

}  // namespace

// A direct read's helper threads start at the first large read and serve
// every read after it: no thread started per read.
TEST_F(DirectReadTest, LargeReadsReuseTheirHelperThreads) {
  if (!std::filesystem::exists("/proc/self/task")) GTEST_SKIP() << "no /proc/self/task to count threads";
  const std::string path = Path("reuse.h5");
  Write(path, "x", {4096, 1024});  // 16 MiB: split over every thread
  InputFile file(path, {true, 3});
  const DatasetInfo info = file.Describe("x");
  const std::set<std::string> before = ThreadIds();
  const HostArray first = file.ReadRows(info, 0, 4096);
  const std::set<std::string> after_first = ThreadIds();
  EXPECT_EQ(after_first.size(), before.size() + 2) << "3 threads: the caller's and 2 helpers";
  EXPECT_EQ(file.ReadRows(info, 0, 4096).bytes, first.bytes);
  EXPECT_EQ(ThreadIds(), after_first);
}

// A failed read on a helper thread reaches the caller with the file's name.
TEST_F(DirectReadTest, AShortReadOnAHelperThreadFailsNamingTheFile) {
  const std::string path = Path("short_helper.h5");
  Write(path, "x", {4096, 1024});  // 16 MiB at the end of the file, in 3 parts
  InputFile file(path, {true, 3});
  const DatasetInfo info = file.Describe("x");
  file.ReadRows(info, 0, 1);
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - (1 << 20));  // only the last part fails
  try {
    file.ReadRows(info, 0, 4096);
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("dataset 'x', rows 0..4096"), std::string::npos) << what;
    EXPECT_NE(what.find(path), std::string::npos) << what;
    EXPECT_NE(what.find("(truncated?)"), std::string::npos) << what;
  }
}

TEST_F(DirectReadTest, OtherLayoutsGoThroughHdf5) {
  const std::string path = Path("other.h5");
  Write(path, "deflate", {10, 3}, [](hid_t dcpl) {
    const hsize_t chunk[2] = {4, 3};
    H5Pset_chunk(dcpl, 2, chunk);
    H5Pset_deflate(dcpl, 4);
  });
  Write(path, "big_endian", {10, 3}, {}, H5T_IEEE_F32BE);
  Write(path, "double", {10, 3}, {}, H5T_IEEE_F64LE);  // native too: read directly, as float64
  Write(path, "split_rows", {10, 3}, Chunked({4, 2}));
  Write(path, "compact", {10, 3}, [](hid_t dcpl) { H5Pset_layout(dcpl, H5D_COMPACT); });
  Write(path, "unwritten", {10, 3}, {}, H5T_IEEE_F32LE, 0);
  const std::vector<std::pair<int64_t, int64_t>> ranges = {{0, 10}, {2, 7}};
  EXPECT_EQ(ExpectSameAsHdf5(path, "deflate", ranges), "through HDF5 (compressed or filtered)");
  EXPECT_EQ(ExpectSameAsHdf5(path, "big_endian", ranges),
            "through HDF5 (stored type differs from the native one (size or byte order))");
  EXPECT_EQ(ExpectSameAsHdf5(path, "double", ranges), "directly (contiguous, 3 thread(s))");
  EXPECT_EQ(ExpectSameAsHdf5(path, "split_rows", ranges), "through HDF5 (chunks split its rows)");
  EXPECT_EQ(ExpectSameAsHdf5(path, "compact", ranges), "through HDF5 (compact storage)");
  EXPECT_EQ(ExpectSameAsHdf5(path, "unwritten", ranges), "through HDF5 (no data written yet)");

  InputFile hdf5(path, {false, 4});
  EXPECT_EQ(hdf5.ReadMethod(hdf5.Describe("double")), "through HDF5 (input.read: hdf5)");
}

TEST_F(DirectReadTest, UnwrittenChunksReadAsHdf5FillsThem) {
  // Rows 0..5 written: chunks 0 and 1 exist, 2 and 3 (rows 6..11) do not.
  const std::string path = Path("partial.h5");
  Write(path, "x", {12, 2}, Chunked({3, 2}), H5T_IEEE_F32LE, 6);
  EXPECT_EQ(ExpectSameAsHdf5(path, "x", {{0, 6}, {0, 12}, {4, 8}, {6, 12}, {11, 12}}).rfind("directly", 0), 0u);
  InputFile file(path);
  const DatasetInfo info = file.Describe("x");
  HostArray tail = file.ReadRows(info, 6, 12);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(reinterpret_cast<const float*>(tail.bytes.data())[i], 0.0f);
}

// A first read that fails while checking the direct path (here: no file
// descriptor left for the reader's own) throws, and leaves the dataset to be
// checked again by the next read, not half-checked.
TEST_F(DirectReadTest, AFailedCheckIsRetriedNotHalfDone) {
  const std::string path = Path("fds.h5");
  Write(path, "x", {10, 3});
  InputFile file(path, {true, 2});
  const DatasetInfo info = file.Describe("x");
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  const int next_fd = dup(0);
  ASSERT_GE(next_fd, 0);
  close(next_fd);
  rlimit tight = saved;
  tight.rlim_cur = static_cast<rlim_t>(next_fd);  // every descriptor from here on is refused
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &tight), 0);
  bool threw = false;
  try {
    file.ReadRows(info, 0, 10);
  } catch (const InputError& e) {
    threw = std::string(e.what()).find("cannot open for reading") != std::string::npos;
  }
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  EXPECT_TRUE(threw);
  EXPECT_EQ(file.ReadMethod(info), "directly (contiguous, 2 thread(s))");
  EXPECT_EQ(file.ReadRows(info, 0, 10).bytes, InputFile(path, {false, 1}).ReadRows(info, 0, 10).bytes);
}

// A dataset reached through an external link lives in the link's target file
// (testing::LinkOverATwin says why reading the link's own file looks right).
TEST_F(DirectReadTest, AnExternalLinkIsReadFromItsTargetFile) {
  const std::string link = testing::LinkOverATwin(dir_);
  EXPECT_EQ(ExpectSameAsHdf5(link, "x", {{0, 1000}, {1, 999}, {500, 501}}), "directly (contiguous, 3 thread(s))");
}

// A file that holds nothing but the link is read from the target too (reading
// the link's own file at the target's offset ran past its end).
TEST_F(DirectReadTest, AFileHoldingOnlyALinkReadsItsTarget) {
  const std::string target = Path("target.h5"), link = Path("link.h5");
  Write(target, "x", {4096, 16});
  {
    H5Handle file(H5Fcreate(link.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
    ASSERT_GE(H5Lcreate_external("target.h5", "/x", file.get(), "x", H5P_DEFAULT, H5P_DEFAULT), 0);
  }
  EXPECT_EQ(ExpectSameAsHdf5(link, "x", {{0, 4096}, {7, 3000}}), "directly (contiguous, 3 thread(s))");
}

TEST_F(DirectReadTest, AFileCutShortFailsNamingIt) {
  const std::string path = Path("short.h5");
  Write(path, "x", {4096, 256});  // 4 MiB of rows at the end of the file
  InputFile file(path, {true, 2});
  const DatasetInfo info = file.Describe("x");
  file.ReadRows(info, 0, 1);  // the direct path is checked and chosen
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - (1 << 20));
  try {
    file.ReadRows(info, 0, 4096);
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("dataset 'x', rows 0..4096"), std::string::npos) << what;
    EXPECT_NE(what.find(path), std::string::npos) << what;
    EXPECT_NE(what.find("(truncated?)"), std::string::npos) << what;
  }
}

}  // namespace mpsbatch
