#include "common/status_line.h"

#include <gtest/gtest.h>
#include <spdlog/logger.h>
#include <stdio.h>
#include <unistd.h>

#include <memory>
#include <string>

namespace mpsbatch {
namespace {

// A log sink that writes each formatted line to `fd` with write(2), as the
// log's own stderr sink does.
class FdSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit FdSink(int fd) : fd_(fd) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t line;
    formatter_->format(msg, line);
    EXPECT_EQ(::write(fd_, line.data(), line.size()), static_cast<ssize_t>(line.size()));
  }
  void flush_() override {}

 private:
  int fd_;
};

// Everything written to a temporary file, log lines and status alike.
class StatusLine : public ::testing::Test {
 protected:
  void SetUp() override {
    file_ = tmpfile();
    ASSERT_NE(file_, nullptr);
    sink_ = std::make_shared<StatusLineSink>(std::make_shared<FdSink>(fileno(file_)), fileno(file_), 40);
    logger_ = std::make_shared<spdlog::logger>("status_line_test", sink_);
    logger_->set_pattern("%v");
  }
  void TearDown() override { fclose(file_); }

  std::string Written() const {
    std::string out;
    char buf[256];
    for (ssize_t n, at = 0; (n = ::pread(fileno(file_), buf, sizeof buf, at)) > 0; at += n) out.append(buf, n);
    return out;
  }

  FILE* file_ = nullptr;
  std::shared_ptr<StatusLineSink> sink_;
  std::shared_ptr<spdlog::logger> logger_;
};

TEST_F(StatusLine, WithoutAStatusLogLinesPassUnchanged) {
  logger_->info("plan: 1000 rows");
  EXPECT_EQ(Written(), "plan: 1000 rows\n");
}

TEST_F(StatusLine, AStatusIsRewrittenInPlace) {
  sink_->Show("scoring: 10%");
  sink_->Show("scoring: 20%");
  EXPECT_EQ(Written(), "\rscoring: 10%\x1b[K\rscoring: 20%\x1b[K");
}

TEST_F(StatusLine, ALogLineErasesTheStatusAndItIsDrawnAgainBelow) {
  sink_->Show("scoring: 10%");
  logger_->warn("rank 2 is slow");
  EXPECT_EQ(Written(), "\rscoring: 10%\x1b[K\r\x1b[Krank 2 is slow\n\rscoring: 10%\x1b[K");
}

TEST_F(StatusLine, ClearErasesItForGoodAndOnlyOnce) {
  sink_->Show("scoring: 10%");
  sink_->Clear();
  sink_->Clear();
  logger_->info("done: 1000 rows");
  EXPECT_EQ(Written(), "\rscoring: 10%\x1b[K\r\x1b[Kdone: 1000 rows\n");
}

TEST_F(StatusLine, ClearWithoutAStatusWritesNothing) {
  sink_->Clear();
  EXPECT_EQ(Written(), "");
}

// A status wider than the terminal would wrap, and "\r" only returns to the
// start of its last row.
TEST(StatusLineBytes, AStatusIsCutToOneColumnLessThanTheTerminal) {
  EXPECT_EQ(StatusLineSink::DrawBytes("0123456789abc", 10), "\r012345678\x1b[K");
  EXPECT_EQ(StatusLineSink::DrawBytes("short", 80), "\rshort\x1b[K");
}

}  // namespace
}  // namespace mpsbatch
