// MPI behind one class. mpsbatch initialises MPI with MPI_THREAD_FUNNELED: only
// a rank's main (I/O) thread calls these; the compute thread never does.
// Every collective must be called by all ranks of the communicator.
// Failures: every call throws CommError naming the MPI call that failed (the
// communicators use MPI_ERRORS_RETURN); a job's steps turn that into an
// abort naming the rank and the step (comm/collective_step.h).
#pragma once

#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <vector>

#include "common/buffer.h"

namespace mpsbatch {

using Bytes = ByteBuffer;  // see common/buffer.h

// Initialises MPI for the process's lifetime (works without mpirun, as one
// rank) and finalises it on destruction.
class MpiSession {
 public:
  MpiSession(int* argc, char*** argv);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
};

std::string MpiLibraryVersion();

class Communicator {
 public:
  // Wraps MPI_COMM_WORLD and learns this rank's place on its host.
  Communicator();
  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  // Rank among the ranks on this host, and how many there are.
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }
  const std::string& host() const { return host_; }

  // --- Collectives ---
  void Barrier();
  // A barrier that sleeps between polls instead of spinning, for a wait of
  // seconds while another rank computes (rank 0's planning, a device leader's
  // calibration): MPI's blocking calls spin, and on a host with more ranks
  // than cores the spinning takes CPU from the rank everyone waits for.
  // Adds up to a millisecond to the wait.
  void QuietBarrier();
  void Broadcast(std::string& data, int root);
  int64_t AllreduceMin(int64_t value);
  int64_t AllreduceMax(int64_t value);
  int64_t AllreduceSum(int64_t value);
  // Every rank's value, on every rank.
  std::vector<int64_t> Allgather(int64_t value);
  std::vector<double> Gather(double value, int root);  // meaningful on root only
  std::vector<std::string> Gather(const std::string& value, int root);

  // --- Point to point ---
  // Blocking send; returns when `data` may be reused.
  void Send(int dest, int tag, const Bytes& data);
  // Non-blocking send that owns its buffer until MPI is done with it.
  void SendAsync(int dest, int tag, Bytes data);
  // Completes what it can of the async sends; returns how many are pending.
  size_t ProgressSends();
  void WaitSends();
  // Blocking receive of the next message with `tag` from `source`.
  Bytes Receive(int source, int tag);
  // A message with `tag` from any rank, if one has arrived.
  struct Incoming {
    int source;
    Bytes data;
  };
  std::optional<Incoming> TryReceive(int tag);

  // Ends every rank of the job with `code`. Use when ranks cannot all agree
  // (one rank fails while others wait on it).
  [[noreturn]] void Abort(int code);

 private:
  Bytes ReceiveProbed(MPI_Status& status);

  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
  std::string host_;
  MPI_Comm local_ = MPI_COMM_NULL;
  struct PendingSend {
    MPI_Request request;
    Bytes data;
  };
  std::list<PendingSend> pending_;
};

}  // namespace mpsbatch
