// A file's bytes on every rank, read locally where the same file is there and
// sent by rank 0 where it is not: how the model (model.path, model.compiled)
// reaches the ranks.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "comm/communicator.h"

namespace mpsbatch {

// Reads this rank's copy of the file whole, storing its FileIdentity in
// `*identity` ("" if unknown); throws if it cannot.
using ReadLocalFile = std::function<std::shared_ptr<const std::string>(std::string* identity)>;

// Collective. Gives every rank a file's bytes (`key` names it in the log:
// model.path or model.compiled). Rank 0 holds them in `bytes` and their
// FileIdentity in `identity`; `size` is theirs, and `sha256` gives their
// SHA-256 (called on rank 0 only, and only when some rank must check its
// copy). Every other rank reads its own copy with `read_local`: a rank on rank
// 0's host that sees the very file rank 0 read takes it as it is, others check
// its SHA-256; a rank
// whose copy is missing, unreadable or different receives rank 0's bytes
// (tag 201, pieces of up to 256 MiB). On return `bytes` holds the file on
// every rank and `identity` the FileIdentity of this rank's copy ("" if the
// bytes came from rank 0). Throws CommError.
void DistributeFile(Communicator& comm, const std::string& key, const std::string& path,
                    const std::function<std::string()>& sha256, int64_t size, std::string& identity,
                    std::shared_ptr<const std::string>& bytes, const ReadLocalFile& read_local);

}  // namespace mpsbatch
