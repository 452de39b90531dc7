#include "infer/prewarm.h"

#include <torch/script.h>

#include "infer/torch_device.h"
#include "infer/torch_types.h"

namespace mpsbatch {

void DevicePrewarm::Start(const EngineOptions& options) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (done_.valid()) return;
  std::promise<void> context, done;
  std::shared_future<void> context_up = context.get_future().share(), all_done = done.get_future().share();
  thread_ = std::jthread([options, context = std::move(context), done = std::move(done)]() mutable {
    bool context_up = false;
    auto signal = [&] {  // once, whatever happens below
      if (!context_up) context.set_value();
      context_up = true;
    };
    try {
      const torch::Device device = PickDevice(options);
      if (!device.is_cpu()) {
        c10::InferenceMode guard;
        // A kernel and a copy back: the context, the allocator and
        // the kernel loader are up once this returns.
        (void)torch::ones({1}, torch::TensorOptions().device(device)).sum().item<float>();
      }
      signal();
      if (device.is_cuda()) {
        // Then, while the main thread loads the model, cuDNN and
        // cuBLAS (their libraries, handles and first kernels), which
        // the first batch would otherwise wait for.
        c10::InferenceMode guard;
        const auto o = torch::TensorOptions().device(device).dtype(ScalarTypeOf(PrecisionDType(options.precision)));
        const auto x = torch::ones({1, 3, 8, 8}, o), w = torch::ones({4, 3, 3, 3}, o);
        (void)torch::conv2d(x, w).sum().item<float>();
        const auto a = torch::ones({8, 8}, o);
        (void)torch::mm(a, a).sum().item<float>();
      }
    } catch (...) {
      // Engine::Create meets the same problem and reports it.
    }
    signal();
    done.set_value();
  });
  context_ = std::move(context_up);
  done_ = std::move(all_done);
}

std::shared_future<void> DevicePrewarm::Future(bool context_only) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return context_only ? context_ : done_;
}

void DevicePrewarm::WaitForContext() const {
  if (auto f = Future(true); f.valid()) f.wait();
}

void DevicePrewarm::Wait() const {
  if (auto f = Future(false); f.valid()) f.wait();
}

}  // namespace mpsbatch
