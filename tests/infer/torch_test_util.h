// Helpers of the torch engine's tests: models are TorchScript modules defined
// in C++ and saved to bytes, run through Engine::Create (on the CPU unless a
// test asks for a device). Sees torch headers (no spdlog).
#pragma once

#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/script.h>

#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "infer/engine.h"

namespace mpsbatch {

// A TorchScript module whose forward() is `body`, as bytes.
inline std::shared_ptr<const std::string> ModelBytes(const std::string& body) {
  torch::jit::Module m("M");
  m.define(body);
  std::ostringstream out;
  m.save(out);
  return std::make_shared<const std::string>(out.str());
}

inline std::unique_ptr<Engine> MakeEngine(const std::string& body, EngineOptions o = {}) {
  o.device = o.device == DeviceRequest::kAuto ? DeviceRequest::kCpu : o.device;
  return Engine::Create({"test.pt", ModelBytes(body), ""}, o);
}

template <typename T>
HostArray Array(DType dtype, Shape shape, std::vector<T> values) {
  HostArray a(dtype, std::move(shape));
  EXPECT_EQ(a.bytes.size(), values.size() * sizeof(T));
  std::memcpy(a.bytes.data(), values.data(), a.bytes.size());
  return a;
}

template <typename T>
std::vector<T> Values(const HostArray& a) {
  std::vector<T> v(a.bytes.size() / sizeof(T));
  std::memcpy(v.data(), a.bytes.data(), a.bytes.size());
  return v;
}

inline ArrayView View(const HostArray& a) { return RowSlice(a, 0, a.rows()); }

// forward() that reports the dtype it received as a number, next to the data:
// 10 * bytes per element, plus 1 when floating (uint8 10, float32 41, int64 80,
// bfloat16 21). (torch.uint8 and friends do not resolve in C++ define().)
inline const char* kDtypeProbe = R"(
def forward(self, x):
    code = x.element_size() * 10
    if x.is_floating_point():
        code += 1
    return x.float(), torch.full([x.size(0)], code).float()
)";

// The devices this host offers: the new-path tests run on each.
inline std::vector<DeviceRequest> Devices() {
  std::vector<DeviceRequest> d{DeviceRequest::kCpu};
  if (torch::cuda::is_available()) d.push_back(DeviceRequest::kCuda);
  return d;
}

}  // namespace mpsbatch
