// The names a user may have meant: edit distance and the nearest candidate.
#include "common/nearest.h"

#include <gtest/gtest.h>

namespace mpsbatch {

TEST(Nearest, EditDistance) {
  EXPECT_EQ(EditDistance("", ""), 0u);
  EXPECT_EQ(EditDistance("images", "imgaes"), 1u);  // a transposition is one edit
  EXPECT_EQ(EditDistance("x_f23", "x_f32"), 1u);
  EXPECT_EQ(EditDistance("batch_size", "batch_sise"), 1u);
  EXPECT_EQ(EditDistance("abc", ""), 3u);
}

TEST(Nearest, FindsTheClosestWithinTheBoundAndByLastComponent) {
  const std::vector<std::string> names = {"images", "labels", "train/features"};
  EXPECT_EQ(Nearest("imgaes", names, 2), "images");
  EXPECT_EQ(Nearest("feature", names, 2), "train/features");
  EXPECT_EQ(Nearest("something", names, 2), std::nullopt);
  EXPECT_EQ(Nearest("x", {}, 2), std::nullopt);
  // A whole name beats the same distance to a nested dataset's last component.
  EXPECT_EQ(Nearest("x_f23", {"deep/x_f32", "x_f32"}, 2), "x_f32");
  EXPECT_EQ(Nearest("deeper/x_f32", {"x_f32", "nested/deeper/x_f32"}, 3), "nested/deeper/x_f32");
}

}  // namespace mpsbatch
