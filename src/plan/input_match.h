// Whether a rank other than 0 sees the input rank 0 planned on: every input
// file at the same path with the same size and dataset shapes, the same
// source files. What
// the input-mode negotiation (comm/input_mode.h) asks of each rank.
#pragma once

#include <memory>
#include <string>

#include "config/job.h"
#include "plan/job_plan.h"
#include "read/input_set.h"

namespace mpsbatch {

// "" if this rank can read the input at rank 0's path, with rank 0's shapes
// (`input` then holds it); else what stands in the way. Never throws. Every
// file is looked at (size, readable); the files are opened each once when
// rank 0 found source files in them (their source files must match), else
// only the first: the others are checked against the plan as they are read,
// a file that differs then an input error naming it.

std::string InputProblem(const JobConfig& job, const JobPlan& plan, std::unique_ptr<InputSet>& input);

}  // namespace mpsbatch
