#include "infer/aoti_forward.h"

#include <c10/core/DeviceGuard.h>
#include <fcntl.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#if MPSBATCH_WITH_AOTI
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#endif

#include "common/error.h"
#include "common/file_identity.h"
#include "common/unique_fd.h"
#include "infer/checkpoint_file.h"
#include "infer/torch_message.h"

namespace mpsbatch {

bool EngineSupportsAoti() { return MPSBATCH_WITH_AOTI; }

namespace {

#if MPSBATCH_WITH_AOTI
ModelError NotLoadable(const ModelSource& src, const std::string& why) {
  const std::string checkpoint = CheckpointNotModel(src);
  if (!checkpoint.empty()) return ModelError(src.path + ": " + checkpoint);
  return ModelError(src.path + ": not a loadable AOTInductor package: " + why);
}

class AotiForward : public Forward {
 public:
  AotiForward(const ModelSource& src, torch::Device device) {
    std::string path = src.path;
    OpenFile same;  // the job's file, if it is still the one whose bytes we hold
    if (src.bytes) path = same.OpenIfSame(src) ? same.proc_path() : temp_.Write(*src.bytes);
    try {
      c10::OptionalDeviceGuard guard;
      if (device.is_cuda()) guard.reset_device(device);
      loader_ = std::make_unique<torch::inductor::AOTIModelPackageLoader>(
          path, "model", false, 1, device.is_cuda() ? device.index() : static_cast<c10::DeviceIndex>(-1));
    } catch (const c10::Error& e) {
      throw NotLoadable(src, Brief(e));
    } catch (const std::exception& e) {
      throw NotLoadable(src, e.what());
    }
  }

  std::unordered_map<std::string, std::string> Metadata() { return loader_->get_metadata(); }

  TensorList Run(const TensorList& inputs) override {
    std::vector<torch::Tensor> args(inputs.begin(), inputs.end());
    return loader_->run(args);
  }

 private:
  // The job's own package file, opened once and checked by its descriptor
  // (FileIdentityOfOpenFile), so that the loader, given /proc/self/fd/N,
  // opens that very file even if the path is renamed over meanwhile. Linux
  // only; elsewhere the bytes go to a temporary file.
  struct OpenFile {
    UniqueFd fd;
    bool OpenIfSame(const ModelSource& src) {
#if defined(__linux__)
      if (src.identity.empty()) return false;
      fd.Reset(::open(src.path.c_str(), O_RDONLY | O_CLOEXEC));
      return fd.valid() && FileIdentityOfOpenFile(fd.get()) == src.identity;
#else
      return false;
#endif
    }
    std::string proc_path() const { return "/proc/self/fd/" + std::to_string(fd.get()); }
  };
  // A package received as bytes must lie in a file for the loader; the file
  // lives as long as the runner.
  struct TempFile {
    std::string path;
    std::string Write(const std::string& bytes) {
      std::error_code ec;
      const auto dir = std::filesystem::temp_directory_path(ec);
      if (ec) throw ModelError("cannot find a folder for a temporary copy of the model: " + ec.message());
      std::string tmpl = (dir / "mpsbatch-model-XXXXXX.pt2").string();
      int fd = mkstemps(tmpl.data(), 4);
      if (fd < 0)
        throw ModelError("cannot create a temporary file for the model: " + std::string(std::strerror(errno)));
      path = tmpl;
      FILE* f = fdopen(fd, "wb");
      bool ok = f && std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
      if (f) ok = (std::fclose(f) == 0) && ok;
      if (!ok) throw ModelError("cannot write the model to " + path);
      return path;
    }
    ~TempFile() {
      if (!path.empty()) std::remove(path.c_str());
    }
  } temp_;
  std::unique_ptr<torch::inductor::AOTIModelPackageLoader> loader_;
};
#endif

}  // namespace

std::unique_ptr<Forward> MakeAoti(const ModelSource& src, torch::Device device,
                                  std::unordered_map<std::string, std::string>* metadata) {
#if MPSBATCH_WITH_AOTI
  auto forward = std::make_unique<AotiForward>(src, device);
  if (metadata) {
    try {
      *metadata = forward->Metadata();
    } catch (const c10::Error& e) {
      throw ModelError(src.path + ": cannot read the package's metadata: " + Brief(e));
    }
  }
  return forward;
#else
  throw ModelError(src.path + ": AOTInductor packages (.pt2) need libtorch >= 2.6; this build has " +
                   LibtorchVersion() + ". Export TorchScript (.pt) instead.");
#endif
}

bool IsAotiPackage(const std::string& path) {
  return path.size() >= 4 && path.compare(path.size() - 4, 4, ".pt2") == 0;
}

}  // namespace mpsbatch
