// The job's input files as one run of rows: the one file of input.path, or the
// files of a list or glob (shards written by many producers), rows numbered
// across them in order. Planning checks that every file holds the job's
// datasets with the same dtypes and row shapes; reading finds the file that
// holds a row range (a binary search per read, never per row) and reads it
// there. Files open as they are first read, and only a few stay open; a file
// opened (again) is first checked to be as planned, so a file that disappears
// or changes during the run is an input error naming it. Not thread-safe (see
// hdf5/handle.h).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "read/input_file.h"
#include "read/input_sources.h"

namespace mpsbatch {

// One input file: where, how many rows, and its size and modification time
// when the job was planned.
struct InputShard {
  std::string path;
  int64_t rows = 0;
  FileStamp stamp;
};

// The files input.path names, in order: each entry that is a file as given,
// each glob (`*`, `?`, `[`) by its matches sorted by name. Throws InputError
// for a glob that matches no file or a file named twice (under any name: one
// file is one device and inode).
std::vector<std::string> ExpandInputPaths(const std::vector<std::string>& entries);

// True if ExpandInputPaths takes `entry` as a glob: it holds `*`, `?` or `[`
// and names no file.
bool IsGlobEntry(const std::string& entry);

class InputSet {
 public:
  // Rank 0's planning: opens every file in turn and describes `datasets` in
  // each. Throws InputError naming the first file (and dataset) that cannot
  // be opened, lacks a dataset, holds datasets that disagree on their row
  // count, or disagrees with the first file in a dtype or row shape; and when
  // there are no rows (one file: zero rows; several: none in all). A file of
  // several without rows is kept: it has no chunk. `checked`, if given, is
  // told the number of files checked so far after each file.
  static std::unique_ptr<InputSet> Inspect(const std::vector<std::string>& paths,
                                           const std::vector<std::string>& datasets, ReadOptions options,
                                           const std::function<void(size_t checked)>& checked = {});

  // The files another rank planned (`inputs`: the plan's datasets, shape[0]
  // the rows of all files). Opens nothing yet. A file opened is checked
  // against its shard: size, datasets and, with `check_mtime`, modification
  // time (a copy on another host may have its own).
  InputSet(std::vector<InputShard> shards, std::vector<DatasetInfo> inputs, ReadOptions options, bool check_mtime);
  ~InputSet();

  const std::vector<InputShard>& shards() const { return shards_; }
  const std::vector<DatasetInfo>& inputs() const { return inputs_; }
  int64_t rows() const { return first_row_.back(); }
  std::vector<int64_t> file_rows() const;

  // Reads rows [begin, end) of the run (across files if they span several)
  // into `out`, sized as InputFile::ReadRows wants. Throws InputError.
  void ReadRows(const DatasetInfo& info, int64_t begin, int64_t end, std::byte* out);
  HostArray ReadRows(const DatasetInfo& info, int64_t begin, int64_t end);

  // Where the next read starts, as the caller learns it: asked on a helper
  // thread while a read's rows are read directly, it returns that row,
  // waiting for it at most until `read` turns true (nullopt: not known yet;
  // it must be safe to call from another thread). The helper then opens the
  // file holding it (and readies its reads), so that opening a file overlaps
  // reading the one before; the reading thread touches nothing else of the
  // set meanwhile. Only a hint: a file that cannot be opened then is opened
  // again, and reported, when its rows are read.
  using NextRead = std::function<std::optional<int64_t>(const std::atomic<bool>& read)>;
  void AskNextRead(NextRead next) { next_read_ = std::move(next); }

  // How rows of `info` are read (InputFile::ReadMethod), in the first file
  // that has rows.
  std::string ReadMethod(const DatasetInfo& info);

  // The files besides the input files that their rows come from (see
  // read/input_sources.h), each once. Found while Inspect or CheckAll had
  // each file open, else by opening each now. Throws InputError if one is
  // missing.
  std::vector<SourceFile> SourceFiles();

  // Opens every file once, checking each against its shard, and finds its
  // source files. Throws InputError.
  void CheckAll();
  // Opens file `index`, checking it against its shard. Throws InputError.
  void Check(size_t index) { Open(index); }

 private:
  struct Slot {
    std::unique_ptr<InputFile> file;
    std::vector<DatasetInfo> infos;  // as inputs_, shape[0] the file's rows
    uint64_t used = 0;               // for closing the least recently used
  };

  InputSet(ReadOptions options, bool check_mtime);
  // File `index` open and checked; may close another.
  Slot& Open(size_t index);
  // Closes the least recently used open file while too many are open.
  void MakeRoom();
  // Opens file `index` and readies its reads for AskNextRead; an InputError
  // leaves it closed.
  void OpenAhead(size_t index);
  // The file holding `row` (< rows()).
  size_t FileOf(int64_t row) const;
  size_t DatasetIndex(const DatasetInfo& info) const;
  // Adds the source files of the open file in `slot` to sources_.
  void AddSourceFiles(Slot& slot);

  std::vector<InputShard> shards_;
  std::vector<DatasetInfo> inputs_;
  std::vector<int64_t> first_row_;  // per file its first row, then the total
  ReadOptions options_;
  bool check_mtime_ = true;
  std::shared_ptr<ReadHelpers> read_helpers_;  // one pool for every file's direct reads
  std::vector<SourceFile> sources_;
  bool sources_found_ = false;  // sources_ holds every file's
  std::vector<Slot> slots_;
  NextRead next_read_;
  size_t open_ = 0;
  uint64_t clock_ = 0;
};

}  // namespace mpsbatch
