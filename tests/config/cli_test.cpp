#include "config/cli.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace mpsbatch {

TEST(Cli, JobAndOptions) {
  auto o = ParseCommandLine({"job.yaml", "--dry-run", "--set", "batch_size=4", "--set=device=cpu", "-vv"});
  EXPECT_EQ(o.job_path, "job.yaml");
  EXPECT_TRUE(o.dry_run);
  EXPECT_EQ(o.overrides, (std::vector<std::string>{"batch_size=4", "device=cpu"}));
  EXPECT_EQ(o.verbosity, 2);
}

TEST(Cli, RestartDiscardsSavedChunks) {
  EXPECT_FALSE(ParseCommandLine({"job.yaml"}).restart);
  EXPECT_TRUE(ParseCommandLine({"job.yaml", "--restart"}).restart);
  EXPECT_NE(UsageText().find("--restart         discard the saved chunks of an earlier run and start again"),
            std::string::npos);
}

TEST(Cli, ReportMovesOrSkipsTheRunReport) {
  EXPECT_EQ(ParseCommandLine({"job.yaml", "--report", "/tmp/r.json"}).overrides,
            (std::vector<std::string>{"report=/tmp/r.json"}));
  EXPECT_EQ(ParseCommandLine({"job.yaml", "--report=off"}).overrides, (std::vector<std::string>{"report=off"}));
  EXPECT_THROW(ParseCommandLine({"job.yaml", "--report"}), UsageError);
  EXPECT_NE(UsageText().find("--report PATH"), std::string::npos);
}

TEST(Cli, CommandLineTextQuotesWhatAShellWouldSplit) {
  EXPECT_EQ(CommandLineText({"mpsbatch", "job.yaml", "--set", "batch_size=4"}), "mpsbatch job.yaml --set batch_size=4");
  EXPECT_EQ(CommandLineText({"mpsbatch", "my job.yaml", "--set", "input.path=it's.h5", ""}),
            "mpsbatch 'my job.yaml' --set 'input.path=it'\\''s.h5' ''");
}

TEST(Cli, HelpAndVersionNeedNoJob) {
  EXPECT_TRUE(ParseCommandLine({"--help"}).help);
  EXPECT_TRUE(ParseCommandLine({"--version"}).version);
}

TEST(Cli, Errors) {
  EXPECT_THROW(ParseCommandLine({}), UsageError);
  EXPECT_THROW(ParseCommandLine({"a.yaml", "b.yaml"}), UsageError);
  EXPECT_THROW(ParseCommandLine({"a.yaml", "--bogus"}), UsageError);
  EXPECT_THROW(ParseCommandLine({"a.yaml", "--set"}), UsageError);
}

TEST(Cli, VerbosityAdjustsTheJobsLevel) {
  EXPECT_EQ(EffectiveLogLevel("info", 0), "info");
  EXPECT_EQ(EffectiveLogLevel("info", 1), "debug");
  EXPECT_EQ(EffectiveLogLevel("info", -2), "error");
  EXPECT_EQ(EffectiveLogLevel("warn", 5), "trace");
  EXPECT_EQ(EffectiveLogLevel("error", -9), "off");
}

}  // namespace mpsbatch
