#include "plan/job_options.h"

#include <algorithm>

#include "common/host.h"

namespace mpsbatch {

EngineOptions MakeEngineOptions(const JobConfig& job, const Communicator& comm) {
  EngineOptions o;
  o.device = job.device;
  o.local_rank = comm.local_rank();
  const int host = HostCores();
  o.threads = job.threads > 0 ? job.threads : std::max(1, std::min(UsableCores(), host / comm.local_size()));
  o.precision = job.precision;
  o.input_dtype = job.input.dtype;
  o.input_scale = job.input.scale;
  o.input_mean = job.input.mean;
  o.input_std = job.input.std;
  o.input_layout = job.input.layout;
  o.output_dtype = job.output.dtype;
  o.output_names = job.output.datasets;
  o.input_names = job.input.datasets;
  o.path = job.path;
  return o;
}

ReadOptions MakeReadOptions(const JobConfig& job) {
  return {job.input.read_direct, job.input.read_threads > 0 ? job.input.read_threads : std::min(4, UsableCores())};
}

}  // namespace mpsbatch
