#include "common/enum_table.h"

#include <gtest/gtest.h>

#include "config/job.h"

namespace mpsbatch {
namespace {

enum class Colour { kRed, kGreen, kBlue };
constexpr EnumName<Colour> kColourNames[] = {{Colour::kRed, "red"}, {Colour::kGreen, "green"}};

TEST(EnumTable, NamesAndValuesReadTheSameTable) {
  EXPECT_STREQ(NameIn<Colour>(kColourNames, Colour::kGreen), "green");
  EXPECT_EQ(ValueIn<Colour>(kColourNames, "red"), Colour::kRed);
  EXPECT_EQ(ValueIn<Colour>(kColourNames, "Red"), std::nullopt);
  EXPECT_STREQ(NameIn<Colour>(kColourNames, Colour::kBlue), "?");  // not in the table
  EXPECT_EQ(NamesIn<Colour>(kColourNames), "red | green");
}

// Every value of the job file's enums prints as the name that parses back to it.
template <typename E>
void ExpectRoundTrip(std::span<const EnumName<E>> table) {
  for (const auto& entry : table) EXPECT_EQ(ValueIn(table, NameIn(table, entry.value)), entry.value) << entry.name;
}

TEST(EnumTable, TheJobFilesEnumsRoundTrip) {
  ExpectRoundTrip<DeviceRequest>(kDeviceRequestNames);
  ExpectRoundTrip<Precision>(kPrecisionNames);
  ExpectRoundTrip<InputMode>(kInputModeNames);
  ExpectRoundTrip<Schedule>(kScheduleNames);
  ExpectRoundTrip<PathRequest>(kPathRequestNames);
  ExpectRoundTrip<InputLayout>(kInputLayoutNames);
  EXPECT_STREQ(PathRequestName(PathRequest::kCudaGraph), "cudagraph");
  EXPECT_STREQ(PrecisionName(Precision::kBf16), "bf16");
}

}  // namespace
}  // namespace mpsbatch
