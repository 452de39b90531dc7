// What the job's settings mean for the engine and for the input reader on this
// rank: the job file's keys mapped onto EngineOptions and ReadOptions, with the
// thread counts that default to a share of the cores this process may use.
#pragma once

#include "comm/communicator.h"
#include "config/job.h"
#include "infer/engine.h"
#include "read/input_file.h"

namespace mpsbatch {

// The engine's options on this rank. `threads` (intra-op threads) defaults to
// this rank's share of the host's cores, at most the cores it may run on.
EngineOptions MakeEngineOptions(const JobConfig& job, const Communicator& comm);

// How this rank reads the input: input.read_direct, and input.read_threads
// (default: up to 4, at most the cores this process may run on).
ReadOptions MakeReadOptions(const JobConfig& job);

}  // namespace mpsbatch
