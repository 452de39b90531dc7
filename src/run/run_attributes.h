// The output file's attributes that say how it was made, beside the header
// that run/report.h writes: the command line and the job as it ran (every
// key, the text of the run report's `config`), when the first of its runs
// started (kept across --resume), and, when the file is sealed, the hosts
// that scored it and the run's wall time. Rank 0 only.
#pragma once

#include <string>
#include <vector>

#include "plan/planned_job.h"
#include "write/result_writer.h"

namespace mpsbatch {

// After the header (CreateOutput), before the first row: `command_line`,
// `config` (DumpJob) and, in a file this run created, `first_start_time`
// (`start_time`; a resumed file keeps its first run's). Flushes.
void WriteRunAttributes(ResultWriter& w, const PlannedJob& p, const std::string& command_line,
                        const std::string& start_time);

// Before the file is sealed: `hosts` (each host once, in rank order, ", "
// between), `rank_hosts` ("rank R: HOST" per line) from every rank's "host
// pid" (GatherProcesses), and `wall_seconds`: from the start of rank 0's
// process to now.
void WriteSealAttributes(ResultWriter& w, const std::vector<std::string>& processes, double wall_seconds);

}  // namespace mpsbatch
