#include "read/input_set.h"

#include <glob.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>

#include "common/error.h"
#include "common/file_identity.h"
#include "hdf5/handle.h"

namespace mpsbatch {

namespace {

// Files kept open at once: each holds HDF5's descriptor and maybe one for
// direct reads, and a job may have thousands of files.
constexpr size_t kMaxOpenFiles = 16;

std::vector<std::string> GlobMatches(const std::string& pattern) {
  glob_t g{};
  const int rc = ::glob(pattern.c_str(), GLOB_ERR | GLOB_NOSORT, nullptr, &g);
  std::vector<std::string> matches;
  if (rc == 0)
    for (size_t i = 0; i < g.gl_pathc; ++i) matches.emplace_back(g.gl_pathv[i]);
  ::globfree(&g);
  if (rc == GLOB_NOMATCH || (rc == 0 && matches.empty()))
    throw InputError("input.path '" + pattern + "' matches no file");
  if (rc != 0) throw InputError("input.path '" + pattern + "': cannot list the files it matches");
  std::sort(matches.begin(), matches.end());  // by name, byte by byte: the same order under any locale
  return matches;
}

std::string RowShapeText(const DatasetInfo& info) {
  return std::string(DTypeName(info.dtype)) + " rows of " + ShapeString(info.row_shape());
}

}  // namespace

bool IsGlobEntry(const std::string& entry) {
  std::error_code ec;
  // A file whose name holds a glob character is still that file.
  return entry.find_first_of("*?[") != std::string::npos && !std::filesystem::exists(entry, ec);
}

std::vector<std::string> ExpandInputPaths(const std::vector<std::string>& entries) {
  std::vector<std::string> paths;
  std::set<std::string> seen;
  // A file's identity, device and inode: one file under two names (a link)
  // is still one file. A path that cannot be stat'ed is left to the input's
  // own check, which names it.
  std::map<FileKey, std::string> files;
  for (const auto& entry : entries) {
    for (auto& path : IsGlobEntry(entry) ? GlobMatches(entry) : std::vector<std::string>{entry}) {
      if (!seen.insert(path).second)
        throw InputError("input.path names " + path + " twice; give each file once (its rows would be scored twice)");
      if (const auto key = FileKeyOf(path)) {
        const auto [it, added] = files.emplace(*key, path);
        if (!added)
          throw InputError("input.path names one file twice: " + path + " is the file " + it->second +
                           " (a link to it); give each file once (its rows would be scored twice)");
      }
      paths.push_back(std::move(path));
    }
  }
  return paths;
}

InputSet::InputSet(ReadOptions options, bool check_mtime)
    : options_(options), check_mtime_(check_mtime), read_helpers_(std::make_shared<ReadHelpers>(options.threads - 1)) {}

std::unique_ptr<InputSet> InputSet::Inspect(const std::vector<std::string>& paths,
                                            const std::vector<std::string>& datasets, ReadOptions options,
                                            const std::function<void(size_t checked)>& checked) {
  MPSBATCH_ASSERT(!paths.empty() && !datasets.empty());
  std::unique_ptr<InputSet> set(new InputSet(options, /*check_mtime=*/true));
  const bool several = paths.size() > 1;
  set->slots_.resize(paths.size());
  set->first_row_.push_back(0);
  std::vector<DatasetInfo> first_file;  // what every file must hold
  for (size_t f = 0; f < paths.size(); ++f) {
    set->MakeRoom();
    Slot& slot = set->slots_[f];
    slot.file = std::make_unique<InputFile>(paths[f], options, set->read_helpers_);
    ++set->open_;
    slot.used = ++set->clock_;
    for (const auto& name : datasets) {
      slot.infos.push_back(slot.file->Describe(name));
      const DatasetInfo& info = slot.infos.back();
      const DatasetInfo& first = slot.infos.front();
      if (!several && info.shape[0] < 1)
        throw InputError(paths[f] + ": dataset '" + name + "' has zero rows; there is nothing to score");
      if (info.shape[0] != first.shape[0])
        throw InputError(paths[f] + ": input datasets disagree on the number of rows: '" + first.name + "' has " +
                         std::to_string(first.shape[0]) + ", '" + name + "' has " + std::to_string(info.shape[0]));
      if (f == 0) continue;
      const DatasetInfo& planned = first_file[slot.infos.size() - 1];
      if (info.dtype != planned.dtype || info.row_shape() != planned.row_shape())
        throw InputError(paths[f] + ": dataset '" + name + "' holds " + RowShapeText(info) + ", but " + paths[0] +
                         " holds " + RowShapeText(planned) +
                         ": every file of input.path must hold the same datasets with the same dtypes and row shapes");
    }
    if (f == 0) first_file = slot.infos;
    set->AddSourceFiles(slot);
    const auto stamp = StampOf(paths[f]);
    if (!stamp) throw InputError("input.path '" + paths[f] + "': cannot read its modification time");
    const int64_t rows = slot.infos.front().shape[0];
    set->shards_.push_back({paths[f], rows, *stamp});
    set->first_row_.push_back(set->first_row_.back() + rows);
    if (checked) checked(f + 1);
  }
  if (set->rows() < 1)
    throw InputError("input.path: its " + std::to_string(paths.size()) +
                     " files hold no rows; there is nothing to score");
  set->inputs_ = std::move(first_file);
  for (auto& info : set->inputs_) info.shape[0] = set->rows();
  set->sources_found_ = true;
  return set;
}

InputSet::InputSet(std::vector<InputShard> shards, std::vector<DatasetInfo> inputs, ReadOptions options,
                   bool check_mtime)
    : shards_(std::move(shards)),
      inputs_(std::move(inputs)),
      options_(options),
      check_mtime_(check_mtime),
      read_helpers_(std::make_shared<ReadHelpers>(options.threads - 1)) {
  MPSBATCH_ASSERT(!shards_.empty());
  slots_.resize(shards_.size());
  first_row_.push_back(0);
  for (const auto& shard : shards_) first_row_.push_back(first_row_.back() + shard.rows);
}

InputSet::~InputSet() = default;

std::vector<int64_t> InputSet::file_rows() const {
  std::vector<int64_t> rows;
  for (const auto& shard : shards_) rows.push_back(shard.rows);
  return rows;
}

void InputSet::MakeRoom() {
  while (open_ >= kMaxOpenFiles) {
    Slot* oldest = nullptr;
    for (auto& slot : slots_)
      if (slot.file && (!oldest || slot.used < oldest->used)) oldest = &slot;
    oldest->file.reset();
    oldest->infos.clear();
    --open_;
  }
}

InputSet::Slot& InputSet::Open(size_t index) {
  Slot& slot = slots_[index];
  slot.used = ++clock_;
  if (slot.file) return slot;
  const InputShard& shard = shards_[index];
  const auto stamp = StampOf(shard.path);
  auto changed = [&](const std::string& what) {
    return InputError("input.path's file '" + shard.path + "' " + what +
                      " since the job was planned; run the job again once the input stays unchanged");
  };
  if (!stamp) throw changed("is gone");
  if (stamp->size != shard.stamp.size)
    throw changed("changed size (" + std::to_string(shard.stamp.size) + " -> " + std::to_string(stamp->size) +
                  " bytes)");
  if (check_mtime_ && stamp->mtime_ns != shard.stamp.mtime_ns) throw changed("was modified");
  // The rank loop's reader opens files beside rank 0's writer (hdf5/handle.h).
  std::unique_lock hdf5(Hdf5Mutex());
  MakeRoom();
  auto file = std::make_unique<InputFile>(shard.path, options_, read_helpers_);
  std::vector<DatasetInfo> infos;
  for (const auto& planned : inputs_) {
    infos.push_back(file->Describe(planned.name));
    Shape expected = planned.shape;
    expected[0] = shard.rows;
    if (infos.back().dtype != planned.dtype || infos.back().shape != expected)
      throw changed("changed: dataset '" + planned.name + "' is " + std::string(DTypeName(infos.back().dtype)) + " " +
                    ShapeString(infos.back().shape) + ", was " + std::string(DTypeName(planned.dtype)) + " " +
                    ShapeString(expected));
  }
  slot.file = std::move(file);
  slot.infos = std::move(infos);
  ++open_;
  return slot;
}

size_t InputSet::DatasetIndex(const DatasetInfo& info) const {
  for (size_t i = 0; i < inputs_.size(); ++i)
    if (inputs_[i].name == info.name) return i;
  throw InternalError("dataset '" + info.name + "' is not one of the job's inputs");
}

void InputSet::ReadRows(const DatasetInfo& info, int64_t begin, int64_t end, std::byte* out) {
  MPSBATCH_ASSERT(begin >= 0 && begin <= end && end <= rows());
  const size_t k = DatasetIndex(info);
  const size_t row_bytes = info.row_bytes();
  for (size_t f = FileOf(begin); begin < end; ++f) {
    const int64_t stop = std::min(end, first_row_[f + 1]);
    if (stop == begin) continue;  // a file without rows
    Slot& slot = Open(f);
    ReadOnlyFile::Beside beside;
    if (stop == end && next_read_)
      beside = [this, f](const std::atomic<bool>& read) {
        SilenceHdf5Errors();  // a helper thread's first HDF5 calls
        const std::optional<int64_t> row = next_read_(read);
        if (!row || *row < 0 || *row >= rows()) return;
        const size_t next = FileOf(*row);
        if (next != f && !slots_[next].file) OpenAhead(next);  // never closes file f, the last used
      };
    slot.file->ReadRows(slot.infos[k], begin - first_row_[f], stop - first_row_[f], out, beside);
    out += static_cast<size_t>(stop - begin) * row_bytes;
    begin = stop;
  }
}

size_t InputSet::FileOf(int64_t row) const {
  // The last file whose first row is at or before it.
  return static_cast<size_t>(std::upper_bound(first_row_.begin(), first_row_.end(), row) - first_row_.begin()) - 1;
}

void InputSet::OpenAhead(size_t index) {
  try {
    Slot& slot = Open(index);
    for (const auto& info : slot.infos) slot.file->Prepare(info);
  } catch (const InputError&) {
    // Its read opens it again and reports why it cannot.
  }
}

HostArray InputSet::ReadRows(const DatasetInfo& info, int64_t begin, int64_t end) {
  Shape shape = info.shape;
  shape[0] = end - begin;
  HostArray a(info.dtype, shape);
  ReadRows(info, begin, end, a.bytes.data());
  return a;
}

std::string InputSet::ReadMethod(const DatasetInfo& info) {
  const size_t k = DatasetIndex(info);
  size_t f = 0;
  while (shards_[f].rows == 0) ++f;
  Slot& slot = Open(f);
  return slot.file->ReadMethod(slot.infos[k]);
}

void InputSet::AddSourceFiles(Slot& slot) {
  for (const auto& info : slot.infos)
    for (auto& src : slot.file->SourceFiles(info.name)) {
      const bool known =
          std::any_of(sources_.begin(), sources_.end(), [&](const SourceFile& seen) { return seen.path == src.path; });
      if (!known) sources_.push_back(std::move(src));
    }
}

std::vector<SourceFile> InputSet::SourceFiles() {
  if (!sources_found_) CheckAll();
  return sources_;
}

// One pass: with thousands of files, opening each again for its source files
// would double what planning spends on opening them.
void InputSet::CheckAll() {
  sources_.clear();
  for (size_t f = 0; f < shards_.size(); ++f) AddSourceFiles(Open(f));
  sources_found_ = true;
}

}  // namespace mpsbatch
