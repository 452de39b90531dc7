#include "common/error.h"

namespace mpsbatch {

const char* ErrorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kUsage: return "usage error";
    case ErrorKind::kConfig: return "config error";
    case ErrorKind::kInput: return "input error";
    case ErrorKind::kModel: return "model error";
    case ErrorKind::kDevice: return "device error";
    case ErrorKind::kOutput: return "output error";
    case ErrorKind::kComm: return "MPI error";
    case ErrorKind::kStalled: return "stalled";
    case ErrorKind::kInternal: return "internal error";
  }
  return "error";
}

int ExitCode(ErrorKind kind) { return static_cast<int>(kind); }

}  // namespace mpsbatch
