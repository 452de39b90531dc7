// Test-only failure points, in the spirit of LevelDB's fault-injection Env.
// Every collective step of a job (see comm/collective_step.h) and every
// thread body that can fail calls FaultPoint with its name; when the
// environment variable MPSBATCH_FAIL_AT names that point (and this rank), the
// call throws, so that one test can walk every point and check that each
// failure ends the job by name, without a hang.
//
//   MPSBATCH_FAIL_AT=POINT[:RANK[:KIND]]
//
// RANK: the rank that fails (omitted or "*": every rank). KIND: an error
// kind's short name (config, input, model, device, output, comm, internal;
// the default is internal), "std" for an exception outside mpsbatch's
// hierarchy (std::runtime_error), or "foreign" for one that is not even a
// std::exception. Users never set it; a run without it pays one getenv.
#pragma once

#include <array>
#include <string_view>

namespace mpsbatch {

// Failure points inside thread bodies (the collective steps have their own
// table, kCollectiveSteps in comm/collective_step.h).
inline constexpr std::array<std::string_view, 3> kThreadFaultPoints = {
    "compute-thread",  // ComputeWorker's thread, before its first chunk
    "sync-thread",     // ResultWriter's syncing thread, before its first fsync
    "read-thread",     // ChunkReader's thread, before its first read
};

// The rank FaultPoint compares with MPSBATCH_FAIL_AT's; the Communicator sets
// it once MPI has started. Thread-safe.
void SetFaultRank(int rank);

// Throws what MPSBATCH_FAIL_AT asks for if it names `point` and this rank;
// else does nothing. Thread-safe. The message names the point and the rank.
void FaultPoint(std::string_view point);

}  // namespace mpsbatch
