// Bringing the device up (context, allocator, CUDA's libraries) on a thread of
// its own while the job is read and planned. Includes no torch header.
#pragma once

#include <future>
#include <mutex>
#include <thread>

#include "infer/engine.h"

namespace mpsbatch {

// One device prewarm and the thread that does it. Any thread may wait for it,
// any number of times; the destructor joins the thread (a process must not
// exit while that thread is inside libtorch).
class DevicePrewarm {
 public:
  DevicePrewarm() = default;
  DevicePrewarm(const DevicePrewarm&) = delete;
  DevicePrewarm& operator=(const DevicePrewarm&) = delete;
  ~DevicePrewarm() = default;  // thread_ joins first: it is declared last

  // Starts bringing up the device that `options` ask for: a kernel and a copy
  // back (the context, the allocator, the kernel loader), then on CUDA a
  // convolution and a matrix product (cuDNN and cuBLAS). Problems are left
  // for Engine::Create to meet and report. Only the first call starts it.
  void Start(const EngineOptions& options);
  // Waits for the device's context, if Start was called. (The thread may
  // still be warming CUDA's libraries: that overlaps loading the model.)
  void WaitForContext() const;
  // Waits for the whole of it, if Start was called.
  void Wait() const;

 private:
  std::shared_future<void> Future(bool context_only) const;

  mutable std::mutex mutex_;
  std::shared_future<void> context_, done_;
  std::jthread thread_;
};

}  // namespace mpsbatch
