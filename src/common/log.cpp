#include "common/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace mpsbatch {

void InitLogging(int rank, const std::string& level) {
  auto logger = spdlog::stderr_color_mt("mpsbatch");
  logger->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [rank " + std::to_string(rank) + "] [%^%l%$] %v");
  spdlog::set_default_logger(logger);
  SetLogLevel(level);
}

void SetLogLevel(const std::string& level) { spdlog::set_level(spdlog::level::from_str(level)); }

}  // namespace mpsbatch
