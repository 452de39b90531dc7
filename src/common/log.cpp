#include "common/log.h"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <mutex>

#include "common/status_line.h"
#include "common/terminal.h"

namespace mpsbatch {

namespace {

// stderr when it is not a terminal (a pipe, a file): written with write(2),
// and given up once the reader has gone (EPIPE, with SIGPIPE ignored: `mpsbatch
// job.yaml 2>&1 | head -1`), so that a closed pipe costs the log, never the
// job. Other write errors drop that line only.
class PipeStderrSink : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    if (closed_) return;
    spdlog::memory_buf_t line;
    formatter_->format(msg, line);
    for (size_t at = 0; at < line.size();) {
      const ssize_t n = ::write(STDERR_FILENO, line.data() + at, line.size() - at);
      if (n > 0) {
        at += static_cast<size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        if (n < 0 && errno == EPIPE) closed_ = true;
        return;
      }
    }
  }
  void flush_() override {}

 private:
  bool closed_ = false;  // under the sink's mutex
};

std::shared_ptr<StatusLineSink>& Status() {
  static std::shared_ptr<StatusLineSink> status;
  return status;
}

}  // namespace

void InitLogging(int rank, const std::string& level) {
  // A terminal cannot be a closed pipe; it keeps the colours.
  std::shared_ptr<spdlog::sinks::sink> sink;
  if (isatty(STDERR_FILENO))
    sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  else
    sink = std::make_shared<PipeStderrSink>();
  Status() = std::make_shared<StatusLineSink>(sink, STDERR_FILENO, TerminalColumns());
  auto logger = std::make_shared<spdlog::logger>("mpsbatch", Status());
  logger->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [rank " + std::to_string(rank) + "] [%^%l%$] %v");
  spdlog::set_default_logger(logger);
  SetLogLevel(level);
}

void SetLogLevel(const std::string& level) { spdlog::set_level(spdlog::level::from_str(level)); }

void LogResult(const std::string& line) {
  const auto logger = spdlog::default_logger();
  const auto level = logger->level();
  if (level > spdlog::level::warn) return;
  logger->set_level(std::min(level, spdlog::level::info));
  logger->info("{}", line);
  logger->set_level(level);
}

void ShowStatus(const std::string& text) {
  if (Status()) Status()->Show(text);
}

void ClearStatus() {
  if (Status()) Status()->Clear();
}

}  // namespace mpsbatch
