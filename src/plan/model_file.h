// A model file's bytes, read whole into memory: by rank 0 while planning, and
// by every other rank that has its own copy of the file.
#pragma once

#include <memory>
#include <string>

namespace mpsbatch {

// The whole file at `path`, read into a string of its size (`key` names the
// setting in messages: model.path or model.compiled). With `identity`, stores
// there the FileIdentity (common/file_identity.h) of the file read, or "" if
// it changed while being read. Throws ModelError: missing, not a regular
// file, unreadable, or changed size while being read.
std::shared_ptr<const std::string> ReadModelFile(const std::string& path, const std::string& key = "model.path",
                                                 std::string* identity = nullptr);

}  // namespace mpsbatch
