// A fixed set of worker threads that a caller lends work to and waits for:
// ForEach(n, body) runs body(0) .. body(n-1) on the pool's threads and the
// caller's own. The threads start once, with the pool, and are joined when it
// goes, so repeated calls start none.
#pragma once

#include <cstddef>
#include <functional>
#include <thread>
#include <vector>

#include "common/bounded_queue.h"

namespace mpsbatch {

class ThreadPool {
 public:
  // Starts up to `threads` workers; fewer when the system refuses more
  // (ForEach then runs what they cannot on the caller's thread).
  explicit ThreadPool(int threads);
  // Lets queued work finish, then joins the workers.
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // The workers running: ForEach uses up to size() + 1 threads.
  int size() const { return static_cast<int>(workers_.size()); }

  // Runs body(i) once for each i in [0, n), on the workers and the calling
  // thread, and returns when all have returned. The caller takes indices
  // itself too, so a call finishes even while every worker is busy. If calls
  // throw, every index still runs and the exception of the lowest one is
  // rethrown. Thread-safe.
  void ForEach(size_t n, const std::function<void(size_t)>& body);

  // Runs `there` on a worker while the calling thread runs `here`, and
  // returns when both have returned; if no worker has started `there` by
  // the time `here` returns, the caller runs it. Rethrows what `here` threw,
  // else what `there` threw. Thread-safe.
  void Beside(const std::function<void()>& here, const std::function<void()>& there);

 private:
  BoundedQueue<std::function<void()>> tasks_;
  std::vector<std::jthread> workers_;  // last: joined before the queue goes
};

}  // namespace mpsbatch
