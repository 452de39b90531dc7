#include "comm/file_distribution.h"

#include <algorithm>
#include <exception>

#include "common/log.h"
#include "common/sha256.h"

namespace mpsbatch {

namespace {

constexpr int kTagModel = 201;
constexpr size_t kModelPiece = size_t{256} << 20;

}  // namespace

void DistributeFile(Communicator& comm, const std::string& key, const std::string& path, const std::string& sha256,
                    int64_t size, std::string& identity, std::shared_ptr<const std::string>& bytes_out,
                    const ReadLocalFile& read_local) {
  std::string rank0s = identity.empty() ? "" : comm.host() + "\n" + identity;
  comm.Broadcast(rank0s, 0);
  bool have = comm.rank() == 0;
  if (!have) {
    identity.clear();  // until this rank's bytes are its file's
    try {
      std::string mine;
      auto bytes = read_local(&mine);
      // The very file rank 0 read needs no hash, which takes a while for a large model.
      const bool same_file = !rank0s.empty() && !mine.empty() && rank0s == comm.host() + "\n" + mine;
      if (same_file || Sha256Hex(*bytes) == sha256) {
        bytes_out = bytes;
        identity = mine;
        have = true;
        spdlog::debug("{} '{}': {}", key, path,
                      same_file ? "the file rank 0 read (same host, same file)" : "this host's copy, same SHA-256");
      } else {
        spdlog::warn("{} '{}' differs from rank 0's copy; using rank 0's", key, path);
      }
    } catch (const std::exception& e) {  // any failure to read: rank 0 sends its copy
      spdlog::debug("{} '{}': cannot read it here ({}); rank 0 sends its copy", key, path, e.what());
    }
  }
  const auto have_all = comm.Allgather(have ? 1 : 0);
  for (int r = 1; r < comm.size(); ++r) {
    if (have_all[static_cast<size_t>(r)]) continue;
    if (comm.rank() == 0) {
      const std::string& bytes = *bytes_out;
      for (size_t at = 0; at < bytes.size(); at += kModelPiece) {
        const auto* begin = reinterpret_cast<const std::byte*>(bytes.data()) + at;
        comm.Send(r, kTagModel, Bytes(begin, begin + std::min(kModelPiece, bytes.size() - at)));
      }
    } else if (comm.rank() == r) {
      std::string bytes;
      bytes.reserve(static_cast<size_t>(size));
      while (static_cast<int64_t>(bytes.size()) < size) {
        Bytes piece = comm.Receive(0, kTagModel);
        bytes.append(reinterpret_cast<const char*>(piece.data()), piece.size());
      }
      bytes_out = std::make_shared<const std::string>(std::move(bytes));
    }
  }
}

}  // namespace mpsbatch
