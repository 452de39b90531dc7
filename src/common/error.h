// The one error hierarchy of mpsbatch. Every failure a user can cause is an
// Error of one kind; main() catches it once, prints one message and exits with
// the kind's exit code. Programmer errors are InternalError.
#pragma once

#include <stdexcept>
#include <string>

namespace mpsbatch {

enum class ErrorKind {
  kUsage = 2,     // command line
  kConfig = 3,    // job file: YAML, keys, values
  kInput = 4,     // input HDF5 file and datasets
  kModel = 5,     // model file, loading, running, outputs
  kDevice = 6,    // cpu/cuda/mps selection and device failures
  kOutput = 7,    // output file
  kComm = 8,      // MPI
  kStalled = 9,   // a rank held a chunk past stall_timeout
  kInternal = 70  // a bug in mpsbatch
};

// Name used in messages, e.g. "config error".
const char* ErrorKindName(ErrorKind kind);
int ExitCode(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

#define MPSBATCH_DEFINE_ERROR(Name, Kind)                                          \
  class Name : public Error {                                                      \
   public:                                                                         \
    explicit Name(const std::string& message) : Error(ErrorKind::Kind, message) {} \
  };

MPSBATCH_DEFINE_ERROR(UsageError, kUsage)
MPSBATCH_DEFINE_ERROR(ConfigError, kConfig)
MPSBATCH_DEFINE_ERROR(InputError, kInput)
MPSBATCH_DEFINE_ERROR(ModelError, kModel)
MPSBATCH_DEFINE_ERROR(DeviceError, kDevice)
MPSBATCH_DEFINE_ERROR(OutputError, kOutput)
MPSBATCH_DEFINE_ERROR(CommError, kComm)
MPSBATCH_DEFINE_ERROR(StallError, kStalled)
MPSBATCH_DEFINE_ERROR(InternalError, kInternal)

#undef MPSBATCH_DEFINE_ERROR

// Programmer-error check: never reachable from user input.
#define MPSBATCH_ASSERT(cond)                                                                               \
  do {                                                                                                      \
    if (!(cond))                                                                                            \
      throw ::mpsbatch::InternalError(std::string("assertion failed: ") + #cond + " at " + __FILE__ + ":" + \
                                      std::to_string(__LINE__));                                            \
  } while (0)

}  // namespace mpsbatch
