#include "write/journal.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "common/error.h"

namespace mpsbatch {

namespace {

constexpr char kMagic[8] = {'M', 'P', 'S', 'B', 'J', 'R', 'N', '1'};
constexpr size_t kHeaderBytes = 32;
constexpr size_t kRecordBytes = 16;
constexpr size_t kRunIdBytes = 16;

void PutLittle(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t GetLittle(const char* in, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::string RunIdBytes(const std::string& run_id) {
  std::string bytes;
  for (size_t i = 0; i + 1 < run_id.size() && bytes.size() < kRunIdBytes; i += 2) {
    const int hi = HexDigit(run_id[i]), lo = HexDigit(run_id[i + 1]);
    if (hi < 0 || lo < 0) break;
    bytes.push_back(static_cast<char>(hi * 16 + lo));
  }
  if (run_id.size() != 2 * kRunIdBytes || bytes.size() != kRunIdBytes)
    throw InternalError("malformed run id '" + run_id + "'");
  return bytes;
}

std::string Hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (unsigned char c : bytes) {
    s.push_back(digits[c >> 4]);
    s.push_back(digits[c & 15]);
  }
  return s;
}

}  // namespace

uint32_t Crc32(const void* data, size_t bytes, uint32_t crc) {
  const auto* p = static_cast<const Bytef*>(data);
  uLong c = crc;
  while (bytes > 0) {  // zlib takes a uInt length
    const uInt n = static_cast<uInt>(std::min<size_t>(bytes, 1u << 30));
    c = crc32(c, p, n);
    p += n;
    bytes -= n;
  }
  return static_cast<uint32_t>(c);
}

std::string NewRunId() {
  std::random_device random;  // /dev/urandom on Linux
  std::string bytes;
  while (bytes.size() < kRunIdBytes) {
    const uint32_t r = random();
    for (int i = 0; i < 4 && bytes.size() < kRunIdBytes; ++i) bytes.push_back(static_cast<char>((r >> (8 * i)) & 0xff));
  }
  return Hex(bytes);
}

std::string EncodeJournalHeader(const std::string& run_id) {
  std::string h(kMagic, sizeof kMagic);
  h += RunIdBytes(run_id);
  PutLittle(h, 0, 4);
  PutLittle(h, Crc32(h.data(), h.size()), 4);
  return h;
}

std::string EncodeJournalRecords(const std::vector<JournalRecord>& records) {
  std::string out;
  out.reserve(records.size() * kRecordBytes);
  for (const auto& r : records) {
    const size_t at = out.size();
    PutLittle(out, static_cast<uint64_t>(r.chunk), 8);
    PutLittle(out, r.rows_crc, 4);
    PutLittle(out, Crc32(out.data() + at, 12), 4);
  }
  return out;
}

std::string StartOverAdvice() {
  return "run with --restart instead of --resume to start over (this scores every row again and replaces the "
         "partial file)";
}

int64_t JournalRecordsBySize(const std::string& path) {
  std::error_code ec;
  const auto bytes = std::filesystem::file_size(path, ec);
  if (ec || bytes < kHeaderBytes) return 0;
  return static_cast<int64_t>((bytes - kHeaderBytes) / kRecordBytes);
}

JournalContents ReadJournal(const std::string& path, const std::string& run_id) {
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  JournalContents contents;
  if (bytes.size() < kHeaderBytes) return contents;  // never begun, or its header torn: nothing recorded
  auto refuse = [&](const std::string& what) {
    throw OutputError("cannot resume: " + path + " " + what + "; " + StartOverAdvice());
  };
  const uint32_t header_crc = static_cast<uint32_t>(GetLittle(bytes.data() + 28, 4));
  if (std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0 || Crc32(bytes.data(), 28) != header_crc)
    refuse("is not a journal this mpsbatch wrote, or its header is damaged");
  const std::string journal_run = Hex(bytes.substr(sizeof kMagic, kRunIdBytes));
  if (journal_run != run_id)
    refuse("belongs to another run (run id " + journal_run + ") than its partial file (run id " + run_id + ")");
  size_t at = kHeaderBytes;
  for (; at + kRecordBytes <= bytes.size(); at += kRecordBytes) {
    const char* r = bytes.data() + at;
    if (Crc32(r, 12) == static_cast<uint32_t>(GetLittle(r + 12, 4))) {
      contents.records.push_back({static_cast<int64_t>(GetLittle(r, 8)), static_cast<uint32_t>(GetLittle(r + 8, 4))});
      continue;
    }
    // Zeros from here to the end are a torn append; anything else is damage.
    if (std::all_of(bytes.begin() + static_cast<std::ptrdiff_t>(at), bytes.end(), [](char c) { return c == 0; })) break;
    refuse("has a damaged record at byte " + std::to_string(at) + " (record " +
           std::to_string((at - kHeaderBytes) / kRecordBytes) + ")");
  }
  contents.valid_bytes = at;
  return contents;
}

}  // namespace mpsbatch
