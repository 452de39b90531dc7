#include "common/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <system_error>

namespace mpsbatch {

namespace {

// One ForEach call. Helpers queued on the pool hold it by shared_ptr: one
// that starts after the caller has taken every index finds none left and
// touches nothing of the caller's.
struct Batch {
  explicit Batch(size_t n, const std::function<void(size_t)>& body) : n(n), body(body), errors(n) {}

  // Takes and runs indices until none is left.
  void Work() {
    for (size_t i; (i = next.fetch_add(1)) < n;) {
      try {
        body(i);
      } catch (...) {
        errors[i] = std::current_exception();
      }
      std::lock_guard lock(mu);
      if (++finished == n) all_finished.notify_all();
    }
  }

  const size_t n;
  const std::function<void(size_t)>& body;  // used only while indices are left
  std::vector<std::exception_ptr> errors;   // by index
  std::atomic<size_t> next{0};
  std::mutex mu;
  std::condition_variable all_finished;
  size_t finished = 0;  // under mu
};

}  // namespace

ThreadPool::ThreadPool(int threads) : tasks_(static_cast<size_t>(std::max(1, threads)) * 4) {
  workers_.reserve(static_cast<size_t>(std::max(0, threads)));
  try {
    for (int t = 0; t < threads; ++t)
      workers_.emplace_back([this] {
        while (auto task = tasks_.Pop()) (*task)();
      });
  } catch (const std::system_error&) {
    // No more threads: the callers' threads do the rest.
  }
}

ThreadPool::~ThreadPool() { tasks_.Close(); }

void ThreadPool::ForEach(size_t n, const std::function<void(size_t)>& body) {
  if (n == 0) return;
  auto batch = std::make_shared<Batch>(n, body);
  const size_t helpers = std::min(n - 1, workers_.size());
  for (size_t h = 0; h < helpers; ++h) tasks_.Push([batch] { batch->Work(); });
  batch->Work();
  {
    std::unique_lock lock(batch->mu);
    batch->all_finished.wait(lock, [&] { return batch->finished == n; });
  }
  for (auto& e : batch->errors)
    if (e) std::rethrow_exception(e);
}

void ThreadPool::Beside(const std::function<void()>& here, const std::function<void()>& there) {
  const std::function<void(size_t)> body = [&](size_t) { there(); };
  auto batch = std::make_shared<Batch>(1, body);
  if (!workers_.empty()) tasks_.Push([batch] { batch->Work(); });
  std::exception_ptr here_error;
  try {
    here();
  } catch (...) {
    here_error = std::current_exception();
  }
  batch->Work();  // `there`, unless a worker has taken it
  {
    std::unique_lock lock(batch->mu);
    batch->all_finished.wait(lock, [&] { return batch->finished == 1; });
  }
  if (here_error) std::rethrow_exception(here_error);
  if (batch->errors[0]) std::rethrow_exception(batch->errors[0]);
}

}  // namespace mpsbatch
