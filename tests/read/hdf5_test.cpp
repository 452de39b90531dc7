// The HDF5 reader and writer: round trips, every dtype, and each failure.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "hdf5/handle.h"
#include "read/input_file.h"
#include "test_util.h"
#include "write/result_writer.h"

namespace mpsbatch {

namespace {

using Hdf5Test = testing::Hdf5FolderTest;

// Writes a dataset of `dtype` holding 0, 1, 2, ... with the raw C API.
void WriteRaw(const std::string& path, const std::string& name, hid_t type, const std::vector<hsize_t>& dims) {
  H5Handle file(std::filesystem::exists(path) ? H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT)
                                              : H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT),
                H5Fclose);
  H5Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
  H5Handle ds(H5Dcreate2(file.get(), name.c_str(), type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
  hsize_t n = 1;
  for (auto d : dims) n *= d;
  std::vector<double> values(n);
  for (hsize_t i = 0; i < n; ++i) values[i] = static_cast<double>(i % 100);
  ASSERT_GE(H5Dwrite(ds.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), 0);
}

}  // namespace

TEST_F(Hdf5Test, DescribesAndReadsEverySupportedType) {
  const std::string path = Path("in.h5");
  const std::vector<std::pair<const char*, hid_t>> types = {
      {"f32", H5T_IEEE_F32LE}, {"f64", H5T_IEEE_F64BE}, {"u8", H5T_STD_U8LE},  {"i8", H5T_STD_I8LE},
      {"i16", H5T_STD_I16LE},  {"i32", H5T_STD_I32BE},  {"i64", H5T_STD_I64LE}};
  for (auto [name, type] : types) WriteRaw(path, name, type, {7, 3});
  InputFile file(path);
  const std::vector<DType> expected = {DType::kFloat32, DType::kFloat64, DType::kUInt8, DType::kInt8,
                                       DType::kInt16,   DType::kInt32,   DType::kInt64};
  for (size_t i = 0; i < types.size(); ++i) {
    DatasetInfo info = file.Describe(types[i].first);
    EXPECT_EQ(info.dtype, expected[i]) << types[i].first;
    EXPECT_EQ(info.shape, (Shape{7, 3}));
    HostArray rows = file.ReadRows(info, 2, 5);
    EXPECT_EQ(rows.shape, (Shape{3, 3}));
    // Element k of rows 2..5 is 6 + k, whatever the stored type or byte order.
    for (int k = 0; k < 9; ++k) {
      double v = 0;
      const std::byte* p = rows.bytes.data() + k * DTypeSize(info.dtype);
      switch (info.dtype) {
        case DType::kFloat32: v = *reinterpret_cast<const float*>(p); break;
        case DType::kFloat64: v = *reinterpret_cast<const double*>(p); break;
        case DType::kUInt8: v = *reinterpret_cast<const uint8_t*>(p); break;
        case DType::kInt8: v = *reinterpret_cast<const int8_t*>(p); break;
        case DType::kInt16: v = *reinterpret_cast<const int16_t*>(p); break;
        case DType::kInt32: v = *reinterpret_cast<const int32_t*>(p); break;
        case DType::kInt64: v = static_cast<double>(*reinterpret_cast<const int64_t*>(p)); break;
        default: FAIL();
      }
      EXPECT_EQ(v, 6 + k) << types[i].first;
    }
  }
}

TEST_F(Hdf5Test, InputErrorsNameFileAndDataset) {
  EXPECT_THROW(InputFile(Path("missing.h5")), InputError);
  testing::WriteFile(dir_ / "text.h5", "not hdf5");
  try {
    InputFile f(Path("text.h5"));
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("not an HDF5 file"), std::string::npos);
  }
  const std::string path = Path("in.h5");
  WriteRaw(path, "u16", H5T_STD_U16LE, {4});
  WriteRaw(path, "scalar_like", H5T_IEEE_F32LE, {4});
  {
    H5Handle file(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose);
    H5Handle group(H5Gcreate2(file.get(), "group", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    H5Handle space(H5Screate(H5S_SCALAR), H5Sclose);
    H5Handle ds(H5Dcreate2(file.get(), "scalar", H5T_IEEE_F32LE, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                H5Dclose);
  }
  InputFile file(path);
  auto message = [&](const std::string& name) {
    try {
      file.Describe(name);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_NE(message("nope").find("dataset 'nope' not found"), std::string::npos);
  EXPECT_NE(message("group").find("is not a dataset"), std::string::npos);
  EXPECT_NE(message("u16").find("unsupported type uint16"), std::string::npos);
  EXPECT_NE(message("scalar").find("is a scalar"), std::string::npos);
}

TEST_F(Hdf5Test, WriterRoundTripInAnyRowOrder) {
  const std::string out = Path("out.h5");
  {
    ResultWriter w(out, {{"logits", DType::kFloat32, {2}}, {"id", DType::kInt64, {}}}, 5);
    EXPECT_TRUE(std::filesystem::exists(PartialPath(out)));
    EXPECT_FALSE(std::filesystem::exists(out));
    const float logits_tail[] = {6, 7, 8, 9};
    const float logits_head[] = {0, 1, 2, 3, 4, 5};
    const int64_t ids[] = {10, 11, 12, 13, 14};
    w.WriteRows(0, 3, 2, reinterpret_cast<const std::byte*>(logits_tail));
    w.WriteRows(0, 0, 3, reinterpret_cast<const std::byte*>(logits_head));
    w.WriteRows(1, 0, 5, reinterpret_cast<const std::byte*>(ids));
    w.SetAttribute("rows", int64_t{5});
    w.SetAttribute("note", std::string("hello"));
    w.Commit(false);
  }
  EXPECT_FALSE(std::filesystem::exists(PartialPath(out)));
  InputFile f(out);
  DatasetInfo logits = f.Describe("logits");
  EXPECT_EQ(logits.shape, (Shape{5, 2}));
  HostArray a = f.ReadRows(logits, 0, 5);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(reinterpret_cast<const float*>(a.bytes.data())[i], i);
  HostArray b = f.ReadRows(f.Describe("id"), 0, 5);
  EXPECT_EQ(reinterpret_cast<const int64_t*>(b.bytes.data())[4], 14);
}

// A run that stops after some chunks leaves them, recorded; a second writer
// reopens the file, adds the rest, and the committed file holds all rows.
TEST_F(Hdf5Test, KeptPartialFileResumesWithItsJournal) {
  const std::string out = Path("out.h5");
  const float rows01[] = {0, 1}, rows23[] = {2, 3}, row4[] = {4};
  {
    ResultWriter w(out, {{"y", DType::kFloat32, {}}}, 5, "rows: 5\n", 2);
    w.WriteRows(0, 2, 2, reinterpret_cast<const std::byte*>(rows23));
    w.MarkChunkDone(1);
    w.WriteRows(0, 0, 2, reinterpret_cast<const std::byte*>(rows01));  // written, never marked done
    w.KeepForResume();
  }
  EXPECT_TRUE(std::filesystem::exists(JournalPath(out)));
  auto state = ReadPartial(out);
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->identity, "rows: 5\n");
  EXPECT_EQ(state->chunk_rows, 2);
  EXPECT_EQ(state->done, (std::vector<int64_t>{1}));
  {
    auto w = ResultWriter::Reopen(out, {{"y", DType::kFloat32, {}}}, 5);
    w->WriteRows(0, 0, 2, reinterpret_cast<const std::byte*>(rows01));
    w->MarkChunkDone(0);
    w->WriteRows(0, 4, 1, reinterpret_cast<const std::byte*>(row4));
    w->MarkChunkDone(2);
    w->Sync();
    EXPECT_EQ(ReadPartial(out)->done, (std::vector<int64_t>{0, 1, 2}));
    w->Commit(false);
  }
  EXPECT_FALSE(std::filesystem::exists(PartialPath(out)));
  EXPECT_FALSE(std::filesystem::exists(JournalPath(out)));
  InputFile f(out);
  HostArray a = f.ReadRows(f.Describe("y"), 0, 5);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(reinterpret_cast<const float*>(a.bytes.data())[i], i);
}

// A record cut short by a crash is ignored, and cut off before the resumed
// run appends, so later records stay aligned.
TEST_F(Hdf5Test, TornJournalRecordIsDroppedBeforeAppending) {
  const std::string out = Path("out.h5");
  {
    ResultWriter w(out, {{"y", DType::kFloat32, {}}}, 4, "rows: 4\n", 1);
    w.MarkChunkDone(1);
    w.KeepForResume();
  }
  { std::ofstream(JournalPath(out), std::ios::binary | std::ios::app) << "abc"; }  // 3 bytes of a torn record
  EXPECT_EQ(ReadPartial(out)->done, (std::vector<int64_t>{1}));
  {
    auto w = ResultWriter::Reopen(out, {{"y", DType::kFloat32, {}}}, 4);
    w->MarkChunkDone(3);
  }
  EXPECT_EQ(ReadPartial(out)->done, (std::vector<int64_t>{1, 3}));
}

// The journal is written by a thread of its own, one fsync pair for all the
// chunks marked done meanwhile: a burst of chunks ends up recorded, each once.
TEST_F(Hdf5Test, ChunksMarkedDoneInABurstAreAllRecordedOnce) {
  const std::string out = Path("out.h5");
  constexpr int64_t kRows = 1000;
  {
    ResultWriter w(out, {{"y", DType::kInt64, {}}}, kRows, "rows: 1000\n", 1);
    for (int64_t i = 0; i < kRows; ++i) {
      w.WriteRows(0, i, 1, reinterpret_cast<const std::byte*>(&i));
      w.MarkChunkDone(i);
    }
    w.Sync();
    std::vector<int64_t> all(kRows);
    for (int64_t i = 0; i < kRows; ++i) all[static_cast<size_t>(i)] = i;
    EXPECT_EQ(ReadPartial(out)->done, all);
    w.KeepForResume();
  }
  EXPECT_EQ(std::filesystem::file_size(JournalPath(out)), 32 + kRows * 16);  // a header, a record per chunk
}

// Creating over files another writer holds fails without removing them.
TEST_F(Hdf5Test, FailedCreateLeavesSomeoneElsesPartialFile) {
  const std::string out = Path("out.h5");
  ResultWriter first(out, {{"y", DType::kFloat32, {}}}, 2, "rows: 2\n", 1);
  first.MarkChunkDone(0);
  first.Sync();
  EXPECT_THROW(ResultWriter(out, {{"y", DType::kFloat32, {}}}, 2, "rows: 2\n", 1), OutputError);
  EXPECT_TRUE(std::filesystem::exists(PartialPath(out)));
  EXPECT_EQ(ReadPartial(out)->done, (std::vector<int64_t>{0}));
}

TEST_F(Hdf5Test, ResumeNeedsAPartialFileWithTheSameDatasets) {
  const std::string out = Path("out.h5");
  EXPECT_FALSE(ReadPartial(out).has_value());
  testing::WriteFile(PartialPath(out), "not hdf5");
  EXPECT_THROW(ReadPartial(out), OutputError);
  {
    ResultWriter w(out, {{"y", DType::kFloat32, {3}}}, 5, "x: 1\n", 1);
    w.KeepForResume();
  }
  EXPECT_THROW(ResultWriter::Reopen(out, {{"y", DType::kFloat32, {4}}}, 5), OutputError);
  EXPECT_THROW(ResultWriter::Reopen(out, {{"z", DType::kFloat32, {3}}}, 5), OutputError);
  EXPECT_NO_THROW(ResultWriter::Reopen(out, {{"y", DType::kFloat32, {3}}}, 5));
  EXPECT_TRUE(std::filesystem::exists(PartialPath(out)));  // a reopened file is never removed
}

// A write that fails for want of space says so on the error's one line (the
// reason HDF5 gives carries the time from ctime(), newline and all).
TEST_F(Hdf5Test, AFullDiskIsSaidOnOneLine) {
  if (!std::filesystem::exists("/dev/full")) GTEST_SKIP() << "no /dev/full here";
  std::filesystem::create_symlink("/dev/full", Path("full.h5"));
  H5Handle file(H5Fcreate(Path("full.h5").c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
  ASSERT_FALSE(file.valid()) << "writing the superblock to /dev/full should fail";
  const std::string message = Hdf5Message();
  EXPECT_NE(message.find("file write failed: filename = '" + Path("full.h5") + "'"), std::string::npos) << message;
  EXPECT_NE(message.find("No space left on device"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

TEST_F(Hdf5Test, UncommittedWriterLeavesNoFile) {
  const std::string out = Path("out.h5");
  { ResultWriter w(out, {{"y", DType::kFloat32, {}}}, 3); }
  EXPECT_FALSE(std::filesystem::exists(out));
  EXPECT_FALSE(std::filesystem::exists(PartialPath(out)));
  EXPECT_FALSE(std::filesystem::exists(JournalPath(out)));
}

TEST_F(Hdf5Test, CommitNeverReplacesAFileWithoutOverwrite) {
  const std::string out = Path("out.h5");
  ResultWriter w(out, {{"y", DType::kFloat32, {}}}, 1);
  testing::WriteFile(out, "precious");  // appeared during the run
  EXPECT_THROW(w.Commit(false), OutputError);
  EXPECT_EQ(testing::ReadFile(out), "precious");
}

TEST_F(Hdf5Test, CommitWithOverwriteReplaces) {
  const std::string out = Path("out.h5");
  testing::WriteFile(out, "old");
  ResultWriter w(out, {{"y", DType::kFloat32, {}}}, 1);
  w.Commit(true);
  EXPECT_NO_THROW(InputFile{out});
}

TEST_F(Hdf5Test, CheckOutputPath) {
  const std::string out = Path("out.h5");
  EXPECT_NO_THROW(CheckOutputPath(out, false));
  testing::WriteFile(out, "x");
  EXPECT_THROW(CheckOutputPath(out, false), OutputError);
  EXPECT_NO_THROW(CheckOutputPath(out, true));
  EXPECT_THROW(CheckOutputPath(Path("no/such/folder/out.h5"), true), OutputError);
  EXPECT_THROW(CheckOutputPath(dir_.string(), true), OutputError);
}

}  // namespace mpsbatch
