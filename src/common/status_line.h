// One status line at the foot of a terminal, kept apart from the log lines:
// a sink in front of the log's own sink. Show() rewrites the line in place;
// each log line first erases it, is written, and then has it drawn again
// below, so that no log line lands on it; Clear() erases it for good. Once
// cleared (or before the first Show), the sink only passes lines on.
// Thread-safe (the sink's mutex); never throws.
#pragma once

#include <spdlog/sinks/base_sink.h>

#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace mpsbatch {

class StatusLineSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  // `inner` writes the log lines; the status goes with write(2) to `fd`, the
  // file `inner` writes to. A status is cut to `columns` - 1 characters, so
  // that it never wraps (a wrapped line cannot be rewritten in place).
  StatusLineSink(std::shared_ptr<spdlog::sinks::sink> inner, int fd, int columns);

  void Show(std::string_view text);
  void Clear();

  // The bytes that draw `text` over the current line, and those that erase it.
  static std::string DrawBytes(std::string_view text, int columns);
  static constexpr std::string_view kErase = "\r\x1b[K";

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override;
  void set_pattern_(const std::string& pattern) override;
  void set_formatter_(std::unique_ptr<spdlog::formatter> formatter) override;

 private:
  void Write(std::string_view bytes);

  std::shared_ptr<spdlog::sinks::sink> inner_;
  int fd_;
  int columns_;
  std::string shown_;  // what the status line shows; "" none (under the mutex)
};

}  // namespace mpsbatch
