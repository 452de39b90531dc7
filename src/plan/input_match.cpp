#include "plan/input_match.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "common/error.h"
#include "plan/job_options.h"
#include "read/input_sources.h"

namespace mpsbatch {

std::string InputProblem(const JobConfig& job, const JobPlan& plan, std::unique_ptr<InputFile>& input) {
  try {
    std::error_code ec;
    const auto size = std::filesystem::file_size(job.input.path, ec);
    if (ec) return "cannot see " + job.input.path;
    if (static_cast<int64_t>(size) != plan.input_file_size)
      return job.input.path + " has " + std::to_string(size) + " bytes here, " + std::to_string(plan.input_file_size) +
             " on rank 0";
    input = std::make_unique<InputFile>(job.input.path, MakeReadOptions(job));
    for (const auto& info : plan.inputs)
      if (input->Describe(info.name).shape != info.shape) return "dataset '" + info.name + "' differs from rank 0's";
    const auto sources = InputSourceFiles(*input, plan.inputs);
    for (const auto& src : plan.input_sources) {
      auto it = std::find_if(sources.begin(), sources.end(), [&](const SourceFile& s) { return s.path == src.path; });
      if (it == sources.end()) return "the " + src.role + " " + src.path + " is not among its source files here";
      if (it->stamp.size != src.stamp.size)
        return src.path + " has " + std::to_string(it->stamp.size) + " bytes here, " + std::to_string(src.stamp.size) +
               " on rank 0";
    }
    return "";
  } catch (const Error& e) {
    input.reset();
    return e.what();
  }
}

}  // namespace mpsbatch
