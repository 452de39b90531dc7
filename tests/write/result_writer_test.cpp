// The result writer: round trips in any row order, a kept partial file
// resumed, and files that are not its own left alone.
#include "write/result_writer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "common/error.h"
#include "read/input_file.h"
#include "test_util.h"

namespace mpsbatch {

namespace {

using ResultWriterTest = testing::Hdf5FolderTest;

// Whether the file at `path` holds `bytes` anywhere, as the operating system
// has it (what a read by another process, or an fsync, sees).
bool FileHolds(const std::string& path, const std::vector<std::byte>& bytes) {
  std::ifstream in(path, std::ios::binary);
  const std::vector<char> file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto* want = reinterpret_cast<const char*>(bytes.data());
  return std::search(file.begin(), file.end(), want, want + bytes.size()) != file.end();
}

// 256 rows of 10 distinct float32 values each, as the bytes WriteRows takes.
std::vector<std::byte> DistinctRows() {
  std::vector<float> rows(256 * 10);
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = 1000.25f + static_cast<float>(i);
  const auto* p = reinterpret_cast<const std::byte*>(rows.data());
  return std::vector<std::byte>(p, p + rows.size() * sizeof(float));
}

}  // namespace

TEST_F(ResultWriterTest, WriterRoundTripInAnyRowOrder) {
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
TEST_F(ResultWriterTest, KeptPartialFileResumesWithItsJournal) {
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

// Creating over files another writer holds fails without removing them.
TEST_F(ResultWriterTest, FailedCreateLeavesSomeoneElsesPartialFile) {
  const std::string out = Path("out.h5");
  ResultWriter first(out, {{"y", DType::kFloat32, {}}}, 2, "rows: 2\n", 1);
  first.MarkChunkDone(0);
  first.Sync();
  EXPECT_THROW(ResultWriter(out, {{"y", DType::kFloat32, {}}}, 2, "rows: 2\n", 1), OutputError);
  EXPECT_TRUE(std::filesystem::exists(PartialPath(out)));
  EXPECT_EQ(ReadPartial(out)->done, (std::vector<int64_t>{0}));
}

TEST_F(ResultWriterTest, ResumeNeedsAPartialFileWithTheSameDatasets) {
  const std::string out = Path("out.h5");
  EXPECT_FALSE(ReadPartial(out).has_value());
  // Unreadable with no chunk recorded (a kill while the file was created):
  // nothing to resume, the file is started afresh; with chunks recorded, refused.
  testing::WriteFile(PartialPath(out), "not hdf5");
  EXPECT_FALSE(ReadPartial(out).has_value());
  testing::WriteFile(JournalPath(out), std::string(48, 'j'));
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

TEST_F(ResultWriterTest, UncommittedWriterLeavesNoFile) {
  const std::string out = Path("out.h5");
  { ResultWriter w(out, {{"y", DType::kFloat32, {}}}, 3); }
  EXPECT_FALSE(std::filesystem::exists(out));
  EXPECT_FALSE(std::filesystem::exists(PartialPath(out)));
  EXPECT_FALSE(std::filesystem::exists(JournalPath(out)));
}

// A name "a/b" is dataset b in group a, created on the way; a resume
// reopens it by the same name.
TEST_F(ResultWriterTest, NamesWithSlashesAreDatasetsInGroups) {
  const std::string out = Path("out.h5");
  const std::vector<OutputSpec> specs = {{"scores/logits", DType::kFloat32, {}},
                                         {"scores/extra/ids", DType::kInt64, {}}};
  const float logits[] = {0, 1, 2};
  const int64_t ids[] = {7, 8, 9};
  {
    ResultWriter w(out, specs, 3, "rows: 3\n", 3);
    w.WriteRows(0, 0, 3, reinterpret_cast<const std::byte*>(logits));
    w.KeepForResume();
  }
  {
    auto w = ResultWriter::Reopen(out, specs, 3);
    w->WriteRows(1, 0, 3, reinterpret_cast<const std::byte*>(ids));
    w->MarkChunkDone(0);
    w->Commit(false);
  }
  InputFile f(out);
  HostArray a = f.ReadRows(f.Describe("scores/logits"), 0, 3);
  EXPECT_EQ(reinterpret_cast<const float*>(a.bytes.data())[2], 2);
  HostArray b = f.ReadRows(f.Describe("scores/extra/ids"), 0, 3);
  EXPECT_EQ(reinterpret_cast<const int64_t*>(b.bytes.data())[0], 7);
}

// Rows go to the file as they are written, with no flush: HDF5 keeps no
// cached copy of the chunk they fall in (here one chunk of 4,096 rows holds
// the whole dataset), which a flush per finished chunk would then write back
// whole. Holds for a created file and a reopened one.
TEST_F(ResultWriterTest, RowsReachTheFileWithoutAFlush) {
  const std::string out = Path("out.h5");
  const std::vector<OutputSpec> specs = {{"y", DType::kFloat32, {10}}};
  const std::vector<std::byte> rows = DistinctRows();
  {
    ResultWriter w(out, specs, 4096, "rows: 4096\n", 256);
    w.Flush();
    w.WriteRows(0, 256, 256, rows.data());
    EXPECT_TRUE(FileHolds(PartialPath(out), rows));
    w.KeepForResume();
  }
  std::vector<std::byte> more = rows;
  std::reverse(more.begin(), more.end());
  {
    auto w = ResultWriter::Reopen(out, specs, 4096);
    w->WriteRows(0, 1024, 256, more.data());
    EXPECT_TRUE(FileHolds(PartialPath(out), more));
    w->MarkChunkDone(4);
    w->Sync();
  }
}

}  // namespace mpsbatch
