#include "common/status_line.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace mpsbatch {

StatusLineSink::StatusLineSink(std::shared_ptr<spdlog::sinks::sink> inner, int fd, int columns)
    : inner_(std::move(inner)), fd_(fd), columns_(std::max(columns, 2)) {}

std::string StatusLineSink::DrawBytes(std::string_view text, int columns) {
  const size_t width = static_cast<size_t>(std::max(columns, 2) - 1);
  std::string bytes = "\r";
  bytes += text.substr(0, std::min(text.size(), width));
  bytes += "\x1b[K";  // what a longer earlier status left to the right
  return bytes;
}

void StatusLineSink::Show(std::string_view text) {
  std::lock_guard<std::mutex> lock(mutex_);
  shown_ = text.empty() ? " " : std::string(text);
  Write(DrawBytes(shown_, columns_));
}

void StatusLineSink::Clear() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (shown_.empty()) return;
  Write(kErase);
  shown_.clear();
}

void StatusLineSink::sink_it_(const spdlog::details::log_msg& msg) {
  if (!shown_.empty()) Write(kErase);
  inner_->log(msg);
  inner_->flush();
  if (!shown_.empty()) Write(DrawBytes(shown_, columns_));
}

void StatusLineSink::flush_() { inner_->flush(); }

void StatusLineSink::set_pattern_(const std::string& pattern) { inner_->set_pattern(pattern); }

void StatusLineSink::set_formatter_(std::unique_ptr<spdlog::formatter> formatter) {
  inner_->set_formatter(std::move(formatter));
}

void StatusLineSink::Write(std::string_view bytes) {
  for (size_t at = 0; at < bytes.size();) {
    const ssize_t n = ::write(fd_, bytes.data() + at, bytes.size() - at);
    if (n > 0)
      at += static_cast<size_t>(n);
    else if (n < 0 && errno == EINTR)
      continue;
    else
      return;  // a closed pipe or a full disk costs the status, never the job
  }
}

}  // namespace mpsbatch
