// Which file a path names, as this host sees it: for telling that two reads
// (two ranks on one host, or a read and a later load) met the same file
// without comparing contents.
#pragma once

#include <string>

namespace mpsbatch {

// "device:inode:size:mtime_ns" of the file at `path`, "" if it cannot be
// asked. Equal identities on one host name the same, unchanged file.
std::string FileIdentity(const std::string& path);

}  // namespace mpsbatch
