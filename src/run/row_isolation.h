// on_error: skip's search for the rows of a failed batch that fail alone.
// The batch is split in halves, and each half that fails in two again, down
// to single rows; then the batch runs once more, whole, with every failed row
// replaced by a copy of the first good one, so that each good row is scored
// in the batch, at the position and batch size of a clean run (the engine
// does not pad batches, and a smaller batch may differ in the last bits).
#pragma once

#include <string>
#include <vector>

#include "infer/engine.h"

namespace mpsbatch {

struct IsolatedBatch {
  // The batch's outputs from the run with the failed rows replaced; empty
  // when every row failed. The failed rows' outputs are the replacement's.
  std::vector<HostArray> outputs;
  // Per row of the batch: "" for a good row, else the error it met alone.
  std::vector<std::string> errors;
};

// `inputs`: a batch that failed as a whole with a ModelError; nothing may be
// in flight on `engine`. Rethrows what is not a row's failure: a
// DeviceError, a ModelError that IsDeviceFailure (run/bad_rows.h) names the
// device's, anything else. Throws ModelError when no row fails alone, or when
// the good rows still fail with the failed ones replaced (the failure depends
// on the batch, not on rows).
IsolatedBatch IsolateRows(Engine& engine, const std::vector<ArrayView>& inputs);

// True if `error`, thrown by the engine for a batch, may be a row's failure
// under on_error: skip (a ModelError the device did not cause).
bool MayBeRowFailure(const std::exception_ptr& error);

}  // namespace mpsbatch
