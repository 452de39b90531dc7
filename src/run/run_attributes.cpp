#include "run/run_attributes.h"

#include <algorithm>

#include "config/job_dump.h"

namespace mpsbatch {

void WriteRunAttributes(ResultWriter& w, const PlannedJob& p, const std::string& command_line,
                        const std::string& start_time) {
  w.SetAttribute("command_line", command_line);
  w.SetAttribute("config", DumpJob(p.job));
  if (!p.resume) w.SetAttribute("first_start_time", start_time);
  w.Flush();
}

void WriteSealAttributes(ResultWriter& w, const std::vector<std::string>& processes, double wall_seconds) {
  std::vector<std::string> hosts;
  std::string rank_hosts;
  for (size_t r = 0; r < processes.size(); ++r) {
    const std::string host = processes[r].substr(0, processes[r].rfind(' '));
    if (std::find(hosts.begin(), hosts.end(), host) == hosts.end()) hosts.push_back(host);
    rank_hosts += "rank " + std::to_string(r) + ": " + host + "\n";
  }
  std::string all;
  for (const auto& h : hosts) all += (all.empty() ? "" : ", ") + h;
  w.SetAttribute("hosts", all);
  w.SetAttribute("rank_hosts", rank_hosts);
  w.SetAttribute("wall_seconds", wall_seconds);
}

}  // namespace mpsbatch
