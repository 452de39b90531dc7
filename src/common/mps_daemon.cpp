#include "common/mps_daemon.h"

#include <sys/stat.h>

#include <cstdlib>

namespace mpsbatch {

MpsDaemon FindMpsDaemon(const char* env_pipe_dir) {
  MpsDaemon d;
  d.pipe_dir = env_pipe_dir && *env_pipe_dir ? env_pipe_dir : "/tmp/nvidia-mps";
  struct stat st {};
  d.serving = ::stat((d.pipe_dir + "/control").c_str(), &st) == 0 && S_ISFIFO(st.st_mode);
  return d;
}

MpsDaemon FindMpsDaemon() { return FindMpsDaemon(std::getenv("CUDA_MPS_PIPE_DIRECTORY")); }

}  // namespace mpsbatch
