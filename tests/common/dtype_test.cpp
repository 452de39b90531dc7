#include "common/dtype.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace mpsbatch {

TEST(DType, ParsesCanonicalNamesAndAliases) {
  EXPECT_EQ(ParseDType("float32"), DType::kFloat32);
  EXPECT_EQ(ParseDType("fp16"), DType::kFloat16);
  EXPECT_EQ(ParseDType("bf16"), DType::kBFloat16);
  EXPECT_EQ(ParseDType("double"), DType::kFloat64);
  EXPECT_EQ(ParseDType("uint8"), DType::kUInt8);
  EXPECT_EQ(ParseDType("int64"), DType::kInt64);
  EXPECT_EQ(ParseDType("uint16"), DType::kUInt16);
  EXPECT_EQ(ParseDType("bool"), DType::kBool);
  EXPECT_FALSE(ParseDType("uint32").has_value());
  EXPECT_FALSE(ParseDType("Float32").has_value());
}

TEST(DType, SizesAndKinds) {
  EXPECT_EQ(DTypeSize(DType::kFloat64), 8u);
  EXPECT_EQ(DTypeSize(DType::kBFloat16), 2u);
  EXPECT_EQ(DTypeSize(DType::kUInt8), 1u);
  EXPECT_TRUE(IsFloating(DType::kFloat16));
  EXPECT_FALSE(IsFloating(DType::kInt32));
  EXPECT_EQ(DTypeName(DType::kInt16), "int16");
  EXPECT_EQ(DTypeSize(DType::kBool), 1u);
  EXPECT_EQ(DTypeSize(DType::kUInt16), 2u);
  EXPECT_FALSE(IsFloating(DType::kBool));
}

TEST(HostArray, RowBytesAndSlices) {
  HostArray a(DType::kFloat32, {5, 2, 3});
  EXPECT_EQ(a.bytes.size(), 5u * 6 * 4);
  EXPECT_EQ(a.row_bytes(), 24u);
  ArrayView v = RowSlice(a, 2, 4);
  EXPECT_EQ(v.shape, (Shape{2, 2, 3}));
  EXPECT_EQ(v.data, a.bytes.data() + 48);
  EXPECT_EQ(RowSlice(a, 5, 5).shape[0], 0);
  EXPECT_THROW(RowSlice(a, 3, 6), InternalError);
}

TEST(Shape, Formatting) {
  EXPECT_EQ(ShapeString({}), "[]");
  EXPECT_EQ(ShapeString({3, 1}), "[3, 1]");
  EXPECT_EQ(NumElements({}), 1);
  EXPECT_EQ(NumElements({4, 0, 2}), 0);
}

}  // namespace mpsbatch
