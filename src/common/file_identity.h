// Which file a path names, as this machine sees it: for telling that two reads
// (two ranks on one host, or a read and a later load) met the same file
// without comparing contents.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace mpsbatch {

// The running kernel (Linux: its boot id), the file's device and inode, size,
// and modification and change times, of the file at `path` (or of the open
// file `fd` in the second form); "" if they cannot be asked. The change time
// is set by the kernel on every write, rename or new inode and cannot be set
// by a program, so equal identities name the same, unchanged file even when
// a same-size file with a copied mtime took the inode of an unlinked one.
std::string FileIdentity(const std::string& path);
std::string FileIdentityOfOpenFile(int fd);

// A file's device and inode (symbolic links followed): equal keys name one
// file, under whatever names. nullopt if the file does not exist or cannot be
// asked.
using FileKey = std::pair<uint64_t, uint64_t>;
std::optional<FileKey> FileKeyOf(const std::string& path);

// True if `a` and `b` name one file (same device and inode, symbolic links
// followed); false if either does not exist or cannot be asked.
bool SameFile(const std::string& a, const std::string& b);

}  // namespace mpsbatch
