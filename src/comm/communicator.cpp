#include "comm/communicator.h"

#include <chrono>
#include <limits>
#include <thread>

#include "common/error.h"
#include "common/fault.h"

namespace mpsbatch {

namespace {

// Every MPI call's result goes through here: the communicators return errors
// (MPI_ERRORS_RETURN) rather than abort inside MPI, so that the step that
// failed can be named (comm/collective_step.h).
void Check(int result, const char* call) {
  if (result == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(result, text, &len) != MPI_SUCCESS) len = 0;
  throw CommError(std::string(call) + " failed: " +
                  (len > 0 ? std::string(text, static_cast<size_t>(len)) : "error " + std::to_string(result)));
}
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
  // MPI's default handler aborts inside the failing call, unnamed.
  Check(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  Check(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
  SetFaultRank(rank_);
  Check(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
  Check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local_),
        "MPI_Comm_split_type");
  Check(MPI_Comm_set_errhandler(local_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  Check(MPI_Comm_rank(local_, &local_rank_), "MPI_Comm_rank");
  Check(MPI_Comm_size(local_, &local_size_), "MPI_Comm_size");
  char name[MPI_MAX_PROCESSOR_NAME];
  int len = 0;
  Check(MPI_Get_processor_name(name, &len), "MPI_Get_processor_name");
  host_.assign(name, static_cast<size_t>(len));
}

Communicator::~Communicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized && local_ != MPI_COMM_NULL) MPI_Comm_free(&local_);
}

void Communicator::Barrier() { Check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }

void Communicator::QuietBarrier() {
  MPI_Request request = MPI_REQUEST_NULL;
  Check(MPI_Ibarrier(MPI_COMM_WORLD, &request), "MPI_Ibarrier");
  for (int done = 0;;) {
    Check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), "MPI_Test");
    if (done) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void Communicator::Broadcast(std::string& data, int root) {
  int64_t size = static_cast<int64_t>(data.size());
  Check(MPI_Bcast(&size, 1, MPI_INT64_T, root, MPI_COMM_WORLD), "MPI_Bcast");
  data.resize(static_cast<size_t>(size));
  Check(MPI_Bcast(data.data(), CheckedCount(data.size()), MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
}

int64_t Communicator::AllreduceMin(int64_t value) {
  int64_t out = 0;
  Check(MPI_Allreduce(&value, &out, 1, MPI_INT64_T, MPI_MIN, MPI_COMM_WORLD), "MPI_Allreduce");
  return out;
}

int64_t Communicator::AllreduceMax(int64_t value) {
  int64_t out = 0;
  Check(MPI_Allreduce(&value, &out, 1, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce");
  return out;
}

int64_t Communicator::AllreduceSum(int64_t value) {
  int64_t out = 0;
  Check(MPI_Allreduce(&value, &out, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
  return out;
}

std::vector<int64_t> Communicator::Allgather(int64_t value) {
  std::vector<int64_t> out(static_cast<size_t>(size_));
  Check(MPI_Allgather(&value, 1, MPI_INT64_T, out.data(), 1, MPI_INT64_T, MPI_COMM_WORLD), "MPI_Allgather");
  return out;
}

std::vector<double> Communicator::Gather(double value, int root) {
  std::vector<double> out(static_cast<size_t>(size_));
  Check(MPI_Gather(&value, 1, MPI_DOUBLE, out.data(), 1, MPI_DOUBLE, root, MPI_COMM_WORLD), "MPI_Gather");
  return out;
}

std::vector<std::string> Communicator::Gather(const std::string& value, int root) {
  int len = CheckedCount(value.size());
  std::vector<int> lens(static_cast<size_t>(size_)), offsets(static_cast<size_t>(size_));
  Check(MPI_Gather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, root, MPI_COMM_WORLD), "MPI_Gather");
  std::string all;
  if (rank_ == root) {
    int total = 0;
    for (int i = 0; i < size_; ++i) {
      offsets[i] = total;
      total += lens[i];
    }
    all.resize(static_cast<size_t>(total));
  }
  Check(
      MPI_Gatherv(value.data(), len, MPI_CHAR, all.data(), lens.data(), offsets.data(), MPI_CHAR, root, MPI_COMM_WORLD),
      "MPI_Gatherv");
  std::vector<std::string> out;
  if (rank_ == root)
    for (int i = 0; i < size_; ++i)
      out.push_back(all.substr(static_cast<size_t>(offsets[i]), static_cast<size_t>(lens[i])));
  return out;
}

void Communicator::Send(int dest, int tag, const Bytes& data) {
  Check(MPI_Send(data.data(), CheckedCount(data.size()), MPI_BYTE, dest, tag, MPI_COMM_WORLD), "MPI_Send");
}

void Communicator::SendAsync(int dest, int tag, Bytes data) {
  pending_.push_back(PendingSend{MPI_REQUEST_NULL, std::move(data)});
  auto& p = pending_.back();
  Check(MPI_Isend(p.data.data(), CheckedCount(p.data.size()), MPI_BYTE, dest, tag, MPI_COMM_WORLD, &p.request),
        "MPI_Isend");
}

size_t Communicator::ProgressSends() {
  for (auto it = pending_.begin(); it != pending_.end();) {
    int done = 0;
    Check(MPI_Test(&it->request, &done, MPI_STATUS_IGNORE), "MPI_Test");
    it = done ? pending_.erase(it) : std::next(it);
  }
  return pending_.size();
}

void Communicator::WaitSends() {
  for (auto& p : pending_) Check(MPI_Wait(&p.request, MPI_STATUS_IGNORE), "MPI_Wait");
  pending_.clear();
}

Bytes Communicator::ReceiveProbed(MPI_Status& status) {
  int count = 0;
  Check(MPI_Get_count(&status, MPI_BYTE, &count), "MPI_Get_count");
  Bytes data(static_cast<size_t>(count));
  Check(MPI_Recv(data.data(), count, MPI_BYTE, status.MPI_SOURCE, status.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
        "MPI_Recv");
  return data;
}

Bytes Communicator::Receive(int source, int tag) {
  MPI_Status status;
  Check(MPI_Probe(source, tag, MPI_COMM_WORLD, &status), "MPI_Probe");
  return ReceiveProbed(status);
}

std::optional<Communicator::Incoming> Communicator::TryReceive(int tag) {
  int flag = 0;
  MPI_Status status;
  Check(MPI_Iprobe(MPI_ANY_SOURCE, tag, MPI_COMM_WORLD, &flag, &status), "MPI_Iprobe");
  if (!flag) return std::nullopt;
  return Incoming{status.MPI_SOURCE, ReceiveProbed(status)};
}

void Communicator::Abort(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::abort();  // MPI_Abort does not return; keep [[noreturn]] honest
}

}  // namespace mpsbatch
