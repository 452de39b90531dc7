#include "config/output_rules.h"

#include <gtest/gtest.h>

namespace mpsbatch {
namespace {

TEST(OutputRules, ExpandsEachPlaceholderOfAnInputFile) {
  EXPECT_EQ(ExpandOutputPattern("/o/{stem}.h5", "/d/part-0007.h5", 7, 17), "/o/part-0007.h5");
  EXPECT_EQ(ExpandOutputPattern("/o/{name}", "/d/part-0007.h5", 7, 17), "/o/part-0007.h5");
  EXPECT_EQ(ExpandOutputPattern("/o/s{index}.h5", "/d/a.h5", 7, 17), "/o/s07.h5");
  EXPECT_EQ(ExpandOutputPattern("/o/s{index}.h5", "/d/a.h5", 0, 1), "/o/s0.h5");
  EXPECT_EQ(ExpandOutputPattern("/o/s{index}.h5", "/d/a.h5", 9, 10), "/o/s09.h5");
  EXPECT_EQ(ExpandOutputPattern("/o/{stem}-{stem}.{index}.h5", "/d/a.b.h5", 3, 512), "/o/a.b-a.b.003.h5");
}

TEST(OutputRules, APatternOnlyWithPerInput) {
  EXPECT_EQ(OutputPatternProblem("/o/out.h5", false), "");
  EXPECT_EQ(OutputPatternProblem("/o/{stem}.h5", true), "");
  EXPECT_NE(OutputPatternProblem("/o/{stem}.h5", false), "");
  EXPECT_NE(OutputPatternProblem("/o/out.h5", true), "");
  EXPECT_NE(OutputPatternProblem("/o/{index}/out.h5", true), "");
  EXPECT_NE(OutputPatternProblem("/o/{stem}{x}.h5", true), "");
  // A brace that is no placeholder is a name like any other without per_input.
  EXPECT_EQ(OutputPatternProblem("/o/{x}.h5", false), "");
}

}  // namespace
}  // namespace mpsbatch
