// mpsbatch: score an HDF5 dataset with a PyTorch model under MPI.
// See docs/architecture.md for the path one row takes through src/.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "common/error.h"
#include "common/heap.h"
#include "common/log.h"
#include "config/cli.h"
#include "hdf5/handle.h"
#include "infer/engine.h"
#include "mpsbatch/version.h"
#include "run/job_runner.h"

namespace {

int Main(int argc, char** argv) {
  using namespace mpsbatch;
  MpiSession mpi(&argc, &argv);
  Communicator comm;
  InitLogging(comm.rank(), "info");
  SilenceHdf5Errors();

  CliOptions cli;
  try {
    cli = ParseCommandLine(std::vector<std::string>(argv + 1, argv + argc));
    cli.command_line = CommandLineText(std::vector<std::string>(argv, argv + argc));
  } catch (const UsageError& e) {
    if (comm.rank() == 0) std::fprintf(stderr, "mpsbatch: %s\n", e.what());
    return ExitCode(e.kind());
  }
  if (cli.help || cli.version) {
    if (comm.rank() == 0) {
      if (cli.help) std::printf("%s", UsageText().c_str());
      if (cli.version)
        std::printf("mpsbatch %s\nlibtorch %s%s\nMPI %s\nHDF5 %s\n", MPSBATCH_VERSION, LibtorchVersion().c_str(),
                    EngineSupportsAoti() ? " (TorchScript, AOTInductor)" : " (TorchScript)",
                    MpiLibraryVersion().c_str(), Hdf5LibraryVersion().c_str());
    }
    return 0;
  }
  SetLogLevel(EffectiveLogLevel("info", cli.verbosity));
  try {
    RunJob(comm, cli);
  } catch (const JobFailed& e) {
    return ExitCode(e.kind());
  }
  return 0;
}

// Ends the process once Main is done: its files are closed, MPI finalised.
// What static destructors would still do (libtorch's and CUDA's teardown)
// the operating system does faster, so skipping them shortens every run's
// exit (docs/performance.md). MPSBATCH_FULL_EXIT=1 runs them, for
// leak checkers and for tools that write their data at exit (gcov, nsys).
[[noreturn]] void Exit(int code) {
  spdlog::shutdown();
  std::fflush(nullptr);
  const char* full = std::getenv("MPSBATCH_FULL_EXIT");
  if (full && std::string(full) == "1") std::exit(code);
  std::_Exit(code);
}

}  // namespace

int main(int argc, char** argv) {
  mpsbatch::KeepFreedMemory();
  // Past a file size limit (ulimit -f), a write should fail with EFBIG and be
  // reported like a full disk, not kill the process with SIGXFSZ.
  std::signal(SIGXFSZ, SIG_IGN);
  // A reader that goes away (`mpsbatch job.yaml 2>&1 | head -1`) must cost
  // the log, not the job: writes to the closed pipe fail with EPIPE instead,
  // and the log stops writing there (common/log.cpp).
  std::signal(SIGPIPE, SIG_IGN);
  try {
    Exit(Main(argc, argv));
  } catch (const mpsbatch::Error& e) {
    std::fprintf(stderr, "mpsbatch: %s: %s\n", mpsbatch::ErrorKindName(e.kind()), e.what());
    return mpsbatch::ExitCode(e.kind());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mpsbatch: internal error: %s\n", e.what());
    return mpsbatch::ExitCode(mpsbatch::ErrorKind::kInternal);
  }
}
