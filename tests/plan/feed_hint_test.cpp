// The hints added to a model's error on the probe batch: the key that fixes
// an integer input fed to a float model, and channels-last images fed to a
// channels-first model; nothing when the error is about something else.
#include "plan/feed_hint.h"

#include <gtest/gtest.h>

namespace mpsbatch {

namespace {

DatasetInfo Input(const std::string& name, DType dtype, Shape shape) { return {name, dtype, std::move(shape)}; }

const std::string kDtypeError = "mat1 and mat2 must have the same dtype, but got Byte and Float";
const std::string kChannelError =
    "Given groups=1, weight of size [6, 3, 3, 3], expected input[8, 224, 224, 3] to have 3 channels, but got 224 "
    "channels instead";

}  // namespace

TEST(FeedHint, AnIntegerInputFedAsStoredPointsAtInputDtypeAndScale) {
  EngineOptions options;
  const std::string hint = FeedHint(options, {Input("x", DType::kUInt8, {103, 8, 8})}, kDtypeError);
  EXPECT_NE(hint.find("Input 'x' is stored as uint8 and reaches the model as uint8"), std::string::npos) << hint;
  EXPECT_NE(hint.find("set input.dtype: float32 and, for 8-bit images, input.scale: 0.00392156862745098"),
            std::string::npos)
      << hint;
  EXPECT_NE(FeedHint(options, {Input("m", DType::kUInt16, {4, 2})}, "not implemented for 'UInt16'")
                .find("input.scale: 1.5259021896696422e-05 (1/65535)"),
            std::string::npos);
  EXPECT_NE(FeedHint(options, {Input("b", DType::kBool, {4, 2})}, kDtypeError).find("set input.dtype: float32"),
            std::string::npos);
}

TEST(FeedHint, NoDtypeHintWhereTheInputIsCastOrTheErrorIsAboutSomethingElse) {
  EngineOptions scaled;
  scaled.input_scale = 0.5;
  EXPECT_EQ(FeedHint(scaled, {Input("x", DType::kUInt8, {103, 8, 8})}, kDtypeError), "");
  EngineOptions plain;
  EXPECT_EQ(FeedHint(plain, {Input("x", DType::kFloat32, {103, 8, 8})}, kDtypeError), "");
  EXPECT_EQ(FeedHint(plain, {Input("x", DType::kUInt8, {103, 8, 8})}, "poisoned row in batch"), "");
  EngineOptions integer;
  integer.input_dtype = DType::kInt32;
  EXPECT_NE(FeedHint(integer, {Input("x", DType::kUInt8, {103, 8, 8})}, kDtypeError).find("(input.dtype: int32)"),
            std::string::npos);
}

TEST(FeedHint, ChannelsLastImagesPointAtInputLayout) {
  EngineOptions options;
  const std::string hint = FeedHint(options, {Input("images", DType::kFloat32, {103, 224, 224, 3})}, kChannelError);
  EXPECT_NE(hint.find("Input 'images' is [103, 224, 224, 3], which looks channels-last"), std::string::npos) << hint;
  EXPECT_NE(hint.find("set input.layout: nhwc to hand the model [103, 3, 224, 224]"), std::string::npos) << hint;
  EXPECT_EQ(FeedHint(options, {Input("images", DType::kFloat32, {103, 3, 224, 224})}, kChannelError), "");
  options.input_layout = InputLayout::kNhwc;
  EXPECT_NE(FeedHint(options, {Input("images", DType::kFloat32, {103, 3, 224, 224})}, kChannelError)
                .find("if the dataset is stored channels-first, set input.layout: nchw"),
            std::string::npos);
}

}  // namespace mpsbatch
