// The journal of finished chunks (write/journal.h): bound to its partial file
// by the run id, each record checked, a torn tail ignored, and the rows each
// record names compared with the partial file's on a resume.
#include "write/journal.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "test_util.h"
#include "write/result_writer.h"

namespace mpsbatch {

namespace {

using JournalTest = testing::Hdf5FolderTest;

const std::vector<OutputSpec> kOutputs = {{"y", DType::kFloat32, {2}}};

// A partial file of 6 rows in chunks of 2, whose chunks 0 and 1 are written
// and recorded; chunk 2 is never written.
void WriteTwoChunks(const std::string& out) {
  ResultWriter w(out, kOutputs, 6, "rows: 6\n", 2);
  const float rows[] = {1, 2, 3, 4, 5, 6, 7, 8};
  w.WriteRows(0, 0, 2, reinterpret_cast<const std::byte*>(rows));
  w.MarkChunkDone(0);
  w.WriteRows(0, 2, 2, reinterpret_cast<const std::byte*>(rows + 4));
  w.MarkChunkDone(1);
  w.Sync();
  w.KeepForResume();
}

std::string Refusal(const std::string& out) {
  try {
    ReadPartial(out);
  } catch (const OutputError& e) {
    return e.what();
  }
  return "(accepted)";
}

void Append(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::app) << bytes;
}

}  // namespace

TEST(Journal, RecordsRoundTripWithTheirChecksums) {
  EXPECT_EQ(Crc32("123456789", 9), 0xcbf43926u);  // the CRC-32 check value
  const std::string run = NewRunId();
  EXPECT_EQ(run.size(), 32u);
  EXPECT_NE(run, NewRunId());
  const std::string header = EncodeJournalHeader(run);
  EXPECT_EQ(header.size(), 32u);
  EXPECT_EQ(EncodeJournalRecords({{7, 1}, {-1, 2}}).size(), 32u);
}

TEST_F(JournalTest, ResumeReadsTheRecordsOfItsOwnRun) {
  const std::string out = Path("out.h5");
  WriteTwoChunks(out);
  auto state = ReadPartial(out);
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->done, (std::vector<int64_t>{0, 1}));
  auto w = ResultWriter::Reopen(out, kOutputs, 6);
  EXPECT_NO_THROW(w->CheckRecordedChunks(state->records));
}

// The checksum a record holds is the one a resume reads back from the file,
// whichever way the writer took it: from the rows as written (a chunk written
// whole, output after output; the short last chunk too) or by reading them
// back (a chunk written in pieces, or its outputs out of order).
TEST_F(JournalTest, RecordedChecksumsMatchTheFileHoweverTheChunkWasWritten) {
  const std::string out = Path("two.h5");
  const std::vector<OutputSpec> outputs = {{"a", DType::kFloat32, {2}}, {"b", DType::kInt64, {}}};
  {
    ResultWriter w(out, outputs, 7, "rows: 7\n", 3);
    const float a[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14};
    const int64_t b[] = {-1, -2, -3, -4, -5, -6, -7};
    const auto bytes = [](const auto* p) { return reinterpret_cast<const std::byte*>(p); };
    w.WriteRows(0, 0, 3, bytes(a));  // chunk 0: whole, in order
    w.WriteRows(1, 0, 3, bytes(b));
    w.MarkChunkDone(0);
    w.WriteRows(1, 3, 3, bytes(b + 3));  // chunk 1: outputs out of order
    w.WriteRows(0, 3, 3, bytes(a + 6));
    w.MarkChunkDone(1);
    w.WriteRows(0, 6, 1, bytes(a + 12));  // chunk 2: the short last one
    w.WriteRows(1, 6, 1, bytes(b + 6));
    w.MarkChunkDone(2);
    w.Sync();
    w.KeepForResume();
  }
  auto state = ReadPartial(out);
  ASSERT_TRUE(state.has_value());
  ASSERT_EQ(state->records.size(), 3u);
  auto w = ResultWriter::Reopen(out, outputs, 7);
  EXPECT_NO_THROW(w->CheckRecordedChunks(state->records));
}

TEST_F(JournalTest, AJournalOfAnotherRunIsRefused) {
  const std::string a = Path("a.h5"), b = Path("b.h5");
  WriteTwoChunks(a);
  WriteTwoChunks(b);
  std::filesystem::copy_file(JournalPath(b), JournalPath(a), std::filesystem::copy_options::overwrite_existing);
  const std::string why = Refusal(a);
  EXPECT_NE(why.find(JournalPath(a) + " belongs to another run"), std::string::npos) << why;
  EXPECT_NE(why.find("run with --restart instead of --resume to start over"), std::string::npos) << why;
}

TEST_F(JournalTest, AJournalInAnotherFormatIsRefused) {
  const std::string out = Path("out.h5");
  WriteTwoChunks(out);
  const int64_t ids[] = {0, 1, 2, 3, 4};  // bare chunk ids
  std::ofstream(JournalPath(out), std::ios::binary).write(reinterpret_cast<const char*>(ids), sizeof ids);
  EXPECT_NE(Refusal(out).find("is not a journal this mpsbatch wrote"), std::string::npos) << Refusal(out);
}

TEST_F(JournalTest, ADamagedRecordIsRefused) {
  const std::string out = Path("out.h5");
  WriteTwoChunks(out);
  {
    std::fstream f(JournalPath(out), std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(32 + 3);  // inside record 0's chunk id
    f.put('\x55');
  }
  const std::string why = Refusal(out);
  EXPECT_NE(why.find("has a damaged record at byte 32 (record 0)"), std::string::npos) << why;
}

// A crash mid-append leaves a record cut short, or whole records of zeros
// where the file grew before its data reached the disk: both are ignored, and
// cut off before a resumed run appends.
TEST_F(JournalTest, ATornTailIsIgnoredAndCutOff) {
  const std::string out = Path("out.h5");
  WriteTwoChunks(out);
  const auto whole = std::filesystem::file_size(JournalPath(out));
  Append(JournalPath(out), std::string(16 * 2, '\0'));
  EXPECT_EQ(ReadPartial(out)->done, (std::vector<int64_t>{0, 1}));
  std::filesystem::resize_file(JournalPath(out), whole);
  Append(JournalPath(out), EncodeJournalRecords({{2, 0}}).substr(0, 9));
  EXPECT_EQ(ReadPartial(out)->done, (std::vector<int64_t>{0, 1}));
  {
    auto w = ResultWriter::Reopen(out, kOutputs, 6);
    const float rows[] = {9, 10, 11, 12};
    w->WriteRows(0, 4, 2, reinterpret_cast<const std::byte*>(rows));
    w->MarkChunkDone(2);
    w->Sync();
  }
  EXPECT_EQ(ReadPartial(out)->done, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(std::filesystem::file_size(JournalPath(out)), 32u + 3 * 16);
}

// A well-formed record of a chunk whose rows are not in the partial file (never
// written, or since changed) is refused on a resume.
TEST_F(JournalTest, ARecordOfRowsThePartialFileLacksIsRefused) {
  const std::string out = Path("out.h5");
  WriteTwoChunks(out);
  auto state = ReadPartial(out);
  ASSERT_TRUE(state.has_value());
  Append(JournalPath(out), EncodeJournalRecords({{2, state->records[0].rows_crc}}));
  state = ReadPartial(out);
  EXPECT_EQ(state->done, (std::vector<int64_t>{0, 1, 2}));
  auto w = ResultWriter::Reopen(out, kOutputs, 6);
  try {
    w->CheckRecordedChunks(state->records);
    FAIL() << "expected an OutputError";
  } catch (const OutputError& e) {
    const std::string why = e.what();
    EXPECT_NE(why.find("records chunk 2 as written, but its rows in " + PartialPath(out) + " are not"),
              std::string::npos)
        << why;
  }
}

TEST_F(JournalTest, APartialFileWithoutARunIdIsRefused) {
  const std::string out = Path("out.h5");
  WriteTwoChunks(out);
  {
    H5Handle file(H5Fopen(PartialPath(out).c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose);
    ASSERT_GE(H5Adelete(file.get(), "run_id"), 0);
  }
  EXPECT_NE(Refusal(out).find("does not record the run that wrote it"), std::string::npos) << Refusal(out);
}

}  // namespace mpsbatch
