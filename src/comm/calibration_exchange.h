// The messages of calibration across ranks (run/calibrate.h measures): which
// rank leads each device group, the rows every rank calibrates on, and each
// leader's choice to the ranks of its group. Every function is collective and
// runs to its end on every rank whatever a rank's own work failed with, so a
// failure reaches the calibrate step's agreement instead of leaving a rank
// waiting.
#pragma once

#include <exception>
#include <functional>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "common/dtype.h"

namespace mpsbatch {

// Device groups: ranks with the same host and `device_name`. Returns the
// lowest rank of this rank's group (its leader).
int ElectDeviceLeader(Communicator& comm, const std::string& device_name);

// Rank 0's arrays, one per entry of `layouts` (dtype, shape), on every rank.
// Rank 0 reads array i with `read_on_root(i)` unless `*failed` is set; if it
// throws, rank 0 keeps the error in `*failed` and every rank still takes part
// in every broadcast. Returns every array, or none where rank 0 failed.
std::vector<HostArray> ShareArrays(Communicator& comm, const std::vector<std::pair<DType, Shape>>& layouts,
                                   const std::function<HostArray(size_t)>& read_on_root, std::exception_ptr* failed);

// Every rank's `mine` (which holds no tab), on every rank, in rank order.
std::vector<std::string> ShareChoices(Communicator& comm, const std::string& mine);

}  // namespace mpsbatch
