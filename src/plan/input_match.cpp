#include "plan/input_match.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "common/error.h"
#include "common/unique_fd.h"
#include "plan/job_options.h"
#include "read/input_sources.h"

namespace mpsbatch {

std::string InputProblem(const JobConfig& job, const JobPlan& plan, std::unique_ptr<InputSet>& input) {
  try {
    for (const auto& file : plan.input_files) {
      std::error_code ec;
      const auto size = std::filesystem::file_size(file.path, ec);
      if (ec) return "cannot see " + file.path;
      if (static_cast<int64_t>(size) != file.stamp.size)
        return file.path + " has " + std::to_string(size) + " bytes here, " + std::to_string(file.stamp.size) +
               " on rank 0";
    }
    input = std::make_unique<InputSet>(plan.input_files, plan.inputs, MakeReadOptions(job), /*check_mtime=*/false);
    if (plan.input_sources.empty()) {
      // Rank 0 found no source files in these files: each readable here,
      // and the first opened with rank 0's datasets. The others are checked
      // the same way when they are read (an input error naming the file).
      for (const auto& file : plan.input_files)
        if (!UniqueFd(::open(file.path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC)))
          return "cannot read " + file.path + ": " + std::strerror(errno);
      input->Check(0);
      return "";
    }
    // Each file opened once: its datasets as rank 0 planned them.
    input->CheckAll();
    const auto sources = input->SourceFiles();
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
