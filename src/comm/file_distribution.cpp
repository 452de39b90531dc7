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

void DistributeFile(Communicator& comm, const std::string& key, const std::string& path,
                    const std::function<std::string()>& sha256, int64_t size, std::string& identity,
                    std::shared_ptr<const std::string>& bytes_out, const ReadLocalFile& read_local) {
  std::string rank0s = identity.empty() ? "" : comm.host() + "\n" + identity;
  comm.Broadcast(rank0s, 0);
  bool have = comm.rank() == 0;
  std::shared_ptr<const std::string> mine;  // a copy to check against rank 0's SHA-256
  std::string mine_identity;
  if (!have) {
    identity.clear();  // until this rank's bytes are its file's
    try {
      mine = read_local(&mine_identity);
      // The very file rank 0 read needs no hash, which takes a while for a large model.
      if (!rank0s.empty() && !mine_identity.empty() && rank0s == comm.host() + "\n" + mine_identity) {
        bytes_out = std::move(mine);
        identity = mine_identity;
        have = true;
        spdlog::debug("{} '{}': the file rank 0 read (same host, same file)", key, path);
      }
    } catch (const std::exception& e) {  // any failure to read: rank 0 sends its copy
      spdlog::debug("{} '{}': cannot read it here ({}); rank 0 sends its copy", key, path, e.what());
    }
  }
  // Rank 0 hashes its bytes only if some rank holds another copy to check.
  const bool to_check = mine != nullptr;
  const auto checking = comm.Allgather(to_check ? 1 : 0);
  if (std::any_of(checking.begin(), checking.end(), [](int64_t c) { return c != 0; })) {
    std::string rank0_sha256 = comm.rank() == 0 ? sha256() : "";
    comm.Broadcast(rank0_sha256, 0);
    if (to_check) {
      if (Sha256Hex(*mine) == rank0_sha256) {
        bytes_out = std::move(mine);
        identity = mine_identity;
        have = true;
        spdlog::debug("{} '{}': this host's copy, same SHA-256", key, path);
      } else {
        spdlog::warn("{} '{}' differs from rank 0's copy; using rank 0's", key, path);
      }
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
