// The files a run keeps beside output.path while it writes, and their commit.
// Results go to output.path.partial, with a journal of finished chunks beside
// it (output.path.partial.chunks, write/journal.h), until the run publishes
// the partial file under output.path: a failed run never leaves a file that
// looks complete, and an interrupted one leaves what a --resume needs. Here:
// the names, what an earlier run left (ReadPartial), the checks before a run
// starts (CheckOutputPath: the file, then its folder), and the steps of the
// commit (the rename, the journal's removal, the folder fsync).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "write/journal.h"

namespace mpsbatch {

// The name a run writes under before it renames to `final_path`.
std::string PartialPath(const std::string& final_path);
// The journal of done chunks beside it (write/journal.h).
std::string JournalPath(const std::string& final_path);

// The partial file's attributes that tie it to its run: the run's identity
// (ResumeIdentity), its chunk size, and the run id its journal also carries.
inline constexpr const char* kIdentityAttribute = "resume_identity";
inline constexpr const char* kChunkRowsAttribute = "chunk_rows";
inline constexpr const char* kRunIdAttribute = "run_id";

// What an earlier run left for a resume.
struct PartialState {
  std::string identity;                // as recorded when the file was created
  int64_t chunk_rows = 0;              // the chunk size the run used
  std::vector<int64_t> done;           // chunk ids recorded done, each once
  std::vector<JournalRecord> records;  // the journal's records, as written
};

// The state of PartialPath(final_path), or nullopt if there is no partial
// file, or one that cannot be read as one (HDF5 cannot open it, or it lacks
// the run's attributes: a run killed while it created the file) beside a
// journal that lists no chunk: that file is to be started afresh, as an info
// line says. Throws OutputError, naming both files and the fix, if it cannot
// be read while its journal lists chunks, or if its journal is not its own or
// is damaged (see ReadJournal).
std::optional<PartialState> ReadPartial(const std::string& final_path);

// What the committed output at `final_path` records of the run that wrote
// it (identity and chunk size; `done` and `records` empty), or nullopt if
// there is no file there. Throws OutputError if the file does not record
// them (not an mpsbatch output, or an older one's).
std::optional<PartialState> ReadCommitted(const std::string& final_path);

// Throws OutputError if `final_path` exists and `overwrite` is false, or is a
// folder. Touches nothing.
void CheckOutputFile(const std::string& final_path, bool overwrite);

// How CheckOutputFolder tells whether a folder is writable.
enum class FolderCheck {
  // Creates and removes one file (.mpsbatch-probe-XXXXXX) in it: the only
  // way to catch a filesystem that refuses new files to root (sysfs). For a
  // run, which writes in the folder anyway.
  kProbeFile,
  // Writes nothing, for a --dry-run: asks access(), which catches missing
  // permission and a read-only filesystem or mount, for root too, but not
  // sysfs, a full disk or a quota.
  kNoWrite,
};

// Throws OutputError if the folder of `final_path` is not writable, or is
// missing and cannot be created (a file in the way, the nearest folder that
// exists not writable). Outputs in one folder need one call between them.
void CheckOutputFolder(const std::string& final_path, FolderCheck how);

// CheckOutputFile, then CheckOutputFolder.
void CheckOutputPath(const std::string& final_path, bool overwrite, FolderCheck how = FolderCheck::kProbeFile);

// Creates the folder of `final_path`, with its parents, if it is missing.
// Throws OutputError naming the folder.
void MakeOutputFolder(const std::string& final_path);

// Moves PartialPath(final_path), closed, to `final_path`: replacing an
// existing file only if `overwrite`, otherwise failing (and leaving that file
// untouched). Throws OutputError; the partial file stays then.
void MovePartialIntoPlace(const std::string& final_path, bool overwrite);

// Removes JournalPath(final_path); what fails is ignored (without its partial
// file nothing reads it).
void RemoveJournal(const std::string& final_path);

// Removes the partial file and its journal, ignoring what fails: a run that
// is not to be resumed.
void RemovePartialFiles(const std::string& final_path);

// Makes the names in the folder of `path` durable (a rename or link in it is
// only in the folder's cache until then): "" or what failed.
std::string SyncFolderOf(const std::string& path);

}  // namespace mpsbatch
