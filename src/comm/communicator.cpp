#include "comm/communicator.h"

#include <limits>

#include "common/error.h"

namespace mpsbatch {

namespace {
int CheckedCount(size_t bytes) {
  if (bytes > static_cast<size_t>(std::numeric_limits<int>::max()))
    throw CommError("a message of " + std::to_string(bytes) + " bytes exceeds MPI's count limit");
  return static_cast<int>(bytes);
}
}  // namespace

MpiSession::MpiSession(int* argc, char*** argv) {
  int provided = 0;
  if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
    throw CommError("MPI_Init_thread failed");
  if (provided < MPI_THREAD_FUNNELED) throw CommError("this MPI library does not provide MPI_THREAD_FUNNELED");
}

MpiSession::~MpiSession() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

std::string MpiLibraryVersion() {
  char version[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(version, &len);
  std::string s(version, static_cast<size_t>(len));
  if (auto comma = s.find(','); comma != std::string::npos) s.resize(comma);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\0')) s.pop_back();
  return s;
}

Communicator::Communicator() {
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local_);
  MPI_Comm_rank(local_, &local_rank_);
  MPI_Comm_size(local_, &local_size_);
  char name[MPI_MAX_PROCESSOR_NAME];
  int len = 0;
  MPI_Get_processor_name(name, &len);
  host_.assign(name, static_cast<size_t>(len));
}

Communicator::~Communicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized && local_ != MPI_COMM_NULL) MPI_Comm_free(&local_);
}

void Communicator::Barrier() { MPI_Barrier(MPI_COMM_WORLD); }

void Communicator::Broadcast(std::string& data, int root) {
  int64_t size = static_cast<int64_t>(data.size());
  MPI_Bcast(&size, 1, MPI_INT64_T, root, MPI_COMM_WORLD);
  data.resize(static_cast<size_t>(size));
  MPI_Bcast(data.data(), CheckedCount(data.size()), MPI_BYTE, root, MPI_COMM_WORLD);
}

int64_t Communicator::AllreduceMin(int64_t value) {
  int64_t out = 0;
  MPI_Allreduce(&value, &out, 1, MPI_INT64_T, MPI_MIN, MPI_COMM_WORLD);
  return out;
}

int64_t Communicator::AllreduceMax(int64_t value) {
  int64_t out = 0;
  MPI_Allreduce(&value, &out, 1, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
  return out;
}

int64_t Communicator::AllreduceSum(int64_t value) {
  int64_t out = 0;
  MPI_Allreduce(&value, &out, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
  return out;
}

std::vector<int64_t> Communicator::Allgather(int64_t value) {
  std::vector<int64_t> out(static_cast<size_t>(size_));
  MPI_Allgather(&value, 1, MPI_INT64_T, out.data(), 1, MPI_INT64_T, MPI_COMM_WORLD);
  return out;
}

std::vector<double> Communicator::Gather(double value, int root) {
  std::vector<double> out(static_cast<size_t>(size_));
  MPI_Gather(&value, 1, MPI_DOUBLE, out.data(), 1, MPI_DOUBLE, root, MPI_COMM_WORLD);
  return out;
}

std::vector<std::string> Communicator::Gather(const std::string& value, int root) {
  int len = CheckedCount(value.size());
  std::vector<int> lens(static_cast<size_t>(size_)), offsets(static_cast<size_t>(size_));
  MPI_Gather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, root, MPI_COMM_WORLD);
  std::string all;
  if (rank_ == root) {
    int total = 0;
    for (int i = 0; i < size_; ++i) {
      offsets[i] = total;
      total += lens[i];
    }
    all.resize(static_cast<size_t>(total));
  }
  MPI_Gatherv(value.data(), len, MPI_CHAR, all.data(), lens.data(), offsets.data(), MPI_CHAR, root, MPI_COMM_WORLD);
  std::vector<std::string> out;
  if (rank_ == root)
    for (int i = 0; i < size_; ++i)
      out.push_back(all.substr(static_cast<size_t>(offsets[i]), static_cast<size_t>(lens[i])));
  return out;
}

void Communicator::Send(int dest, int tag, const Bytes& data) {
  MPI_Send(data.data(), CheckedCount(data.size()), MPI_BYTE, dest, tag, MPI_COMM_WORLD);
}

void Communicator::SendAsync(int dest, int tag, Bytes data) {
  pending_.push_back(PendingSend{MPI_REQUEST_NULL, std::move(data)});
  auto& p = pending_.back();
  MPI_Isend(p.data.data(), CheckedCount(p.data.size()), MPI_BYTE, dest, tag, MPI_COMM_WORLD, &p.request);
}

size_t Communicator::ProgressSends() {
  for (auto it = pending_.begin(); it != pending_.end();) {
    int done = 0;
    MPI_Test(&it->request, &done, MPI_STATUS_IGNORE);
    it = done ? pending_.erase(it) : std::next(it);
  }
  return pending_.size();
}

void Communicator::WaitSends() {
  for (auto& p : pending_) MPI_Wait(&p.request, MPI_STATUS_IGNORE);
  pending_.clear();
}

Bytes Communicator::ReceiveProbed(MPI_Status& status) {
  int count = 0;
  MPI_Get_count(&status, MPI_BYTE, &count);
  Bytes data(static_cast<size_t>(count));
  MPI_Recv(data.data(), count, MPI_BYTE, status.MPI_SOURCE, status.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  return data;
}

Bytes Communicator::Receive(int source, int tag) {
  MPI_Status status;
  MPI_Probe(source, tag, MPI_COMM_WORLD, &status);
  return ReceiveProbed(status);
}

std::optional<Communicator::Incoming> Communicator::TryReceive(int tag) {
  int flag = 0;
  MPI_Status status;
  MPI_Iprobe(MPI_ANY_SOURCE, tag, MPI_COMM_WORLD, &flag, &status);
  if (!flag) return std::nullopt;
  return Incoming{status.MPI_SOURCE, ReceiveProbed(status)};
}

void Communicator::Abort(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::abort();  // MPI_Abort does not return; keep [[noreturn]] honest
}

}  // namespace mpsbatch
