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

// A side file's name is left to CheckOutputFiles; another suffix that merely
// resembles one is a foreign suffix like any other.
TEST(OutputRules, OnlyWholeSideFileEndingsPassTheSuffixCheck) {
  EXPECT_EQ(OutputPathProblem("/o/out.h5.partial"), "");
  EXPECT_EQ(OutputPathProblem("/o/out.h5.partial.chunks"), "");
  EXPECT_EQ(OutputPathProblem("/o/out.h5.lock"), "");
  EXPECT_NE(OutputPathProblem("/o/out.chunks").find("ends in .chunks, but mpsbatch writes an HDF5 file"),
            std::string::npos);
}

// An expanded name passes only if a single output.path could be it; the fix
// keeps the pattern's other placeholders.
TEST(OutputRules, AnExpandedNameMeetsTheRulesOfOneOutput) {
  EXPECT_EQ(ExpandedOutputProblem("/o/{stem}", "/d/a.b.h5", 0, 1).substr(0, 74),
            "'/o/{stem}' names the output of input file /d/a.b.h5 /o/a.b, which ends in");
  EXPECT_NE(ExpandedOutputProblem("/o/{index}-{name}", "/d/a.npy", 3, 17).find("(e.g. /o/{index}-{stem}.h5)"),
            std::string::npos);
  EXPECT_NE(ExpandedOutputProblem("/o/{name}-{index}", "/d/a.npy", 3, 17).find("(e.g. /o/{name}-{index}.h5)"),
            std::string::npos);
  EXPECT_NE(ExpandedOutputProblem("{stem}", "/d/...", 0, 1).find("input file /d/... .., which is a folder's name"),
            std::string::npos);
  EXPECT_NE(ExpandedOutputProblem("/o/{name}", "/d/x.h5.partial.chunks", 0, 1).find("ends in .partial.chunks, the"),
            std::string::npos);
  EXPECT_NE(ExpandedOutputProblem("/o/{name}", "/d/x.chunks", 0, 1).find("ends in .chunks, but"), std::string::npos);
  for (const char* ok : {"/d/a.h5", "/d/a.HDF5", "/d/a", "/d/a.he5", "/d/.hidden"})
    EXPECT_EQ(ExpandedOutputProblem("/o/{name}", ok, 0, 1), "") << ok;
  EXPECT_EQ(ExpandedOutputProblem("/o/{stem}.h5", "/d/...", 0, 1), "");
  EXPECT_EQ(ExpandedOutputProblem("/o/{index}", "/d/x.bin", 0, 1), "");
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
