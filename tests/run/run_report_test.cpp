#include "run/run_report.h"

#include <gtest/gtest.h>

namespace mpsbatch {

namespace {

JobConfig WithReport(const std::string& output, const std::string& report) {
  JobConfig job;
  job.output.path = output;
  job.report = report;
  return job;
}

}  // namespace

TEST(RunReport, SitsBesideTheOutputByDefault) {
  EXPECT_EQ(RunReportPath(WithReport("/data/scores.h5", "auto")), "/data/scores.report.json");
  EXPECT_EQ(RunReportPath(WithReport("/data/scores", "auto")), "/data/scores.report.json");
  EXPECT_EQ(RunReportPath(WithReport("/data/v1.2/scores.hdf5", "auto")), "/data/v1.2/scores.report.json");
}

TEST(RunReport, MovedOrOff) {
  EXPECT_EQ(RunReportPath(WithReport("/data/scores.h5", "/reports/run.json")), "/reports/run.json");
  EXPECT_EQ(RunReportPath(WithReport("/data/scores.h5", "off")), "");
}

}  // namespace mpsbatch
