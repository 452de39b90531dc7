// NVIDIA's MPS control daemon (`nvidia-cuda-mps-control -d`), which lets the
// processes sharing a GPU run their work side by side instead of taking turns
// (time-slicing between their contexts). The CUDA driver of each process
// finds the daemon through a named pipe, `control`, in the pipe folder:
// $CUDA_MPS_PIPE_DIRECTORY, else /tmp/nvidia-mps. Cheap, local, never throws.
#pragma once

#include <string>

namespace mpsbatch {

struct MpsDaemon {
  std::string pipe_dir;  // where this process's CUDA driver looks for the daemon
  bool serving = false;  // the folder holds the daemon's `control` pipe
};

// The daemon as a process whose CUDA_MPS_PIPE_DIRECTORY is `env_pipe_dir`
// (null or empty: unset) would find it. A pipe left behind by a daemon that
// was killed counts as serving: the driver then runs the process without MPS,
// as it does with no pipe.
MpsDaemon FindMpsDaemon(const char* env_pipe_dir);

// The same, for this process's environment.
MpsDaemon FindMpsDaemon();

}  // namespace mpsbatch
