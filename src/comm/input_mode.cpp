#include "comm/input_mode.h"

#include "comm/collective_step.h"
#include "common/error.h"
#include "common/log.h"

namespace mpsbatch {

InputMode ChooseInputMode(Communicator& comm, InputMode requested, const std::function<std::string()>& local_problem,
                          const std::string& input_path) {
  std::string problem;
  if (comm.rank() != 0 && requested != InputMode::kScatter) problem = local_problem();
  const int64_t failing = comm.AllreduceSum(problem.empty() ? 0 : 1);
  InputMode mode = requested;
  if (mode == InputMode::kAuto) mode = failing == 0 ? InputMode::kShared : InputMode::kScatter;
  Agree(comm, "choose-input-mode", [&] {
    if (mode == InputMode::kShared && !problem.empty())
      throw InputError("input.mode is shared, but this rank (host " + comm.host() + ") cannot read the input: " +
                       problem + ". Use input.mode: scatter (or auto) to have rank 0 send the rows.");
  });
  if (comm.rank() == 0 && requested == InputMode::kAuto && mode == InputMode::kScatter)
    spdlog::info("input.mode auto: {} rank(s) cannot read {}; rank 0 will send them their rows", failing, input_path);
  return mode;
}

}  // namespace mpsbatch
