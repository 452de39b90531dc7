// ReadExportRecord on what mpsbatch-export writes, and the messages of
// ExportRecordMismatch for what a job may feed a model it recorded.
#include "infer/export_record.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace mpsbatch {
namespace {

// What scripts/export_model.py writes for forward(features, mask) from a job.
const char* kTwoInputs =
    "mpsbatch.format: 1\nmpsbatch.inputs: features;mask\nmpsbatch.datasets: f;m\nmpsbatch.dtypes: float32;int64\n"
    "mpsbatch.row_shapes: 6;3x2\nmpsbatch.precision: fp32\nmpsbatch.layout: nchw\nmpsbatch.device: cpu\n";

ExportRecord TwoInputs() { return *ReadExportRecord(ParseRecordLines(kTwoInputs), "m.pt"); }

std::vector<ModelFeed> Feeds() {
  return {{"f", DType::kFloat32, DType::kFloat32, {6}}, {"m", DType::kInt64, DType::kInt64, {3, 2}}};
}

TEST(ExportRecord, ReadsWhatTheHelperWrites) {
  const ExportRecord r = TwoInputs();
  EXPECT_EQ(r.inputs, (std::vector<std::string>{"features", "mask"}));
  EXPECT_EQ(r.datasets, (std::vector<std::string>{"f", "m"}));
  EXPECT_EQ(r.dtypes, (std::vector<std::string>{"float32", "int64"}));
  EXPECT_EQ(r.row_shapes, (std::vector<Shape>{{6}, {3, 2}}));
  EXPECT_EQ(r.precision, "fp32");
  EXPECT_EQ(r.layout, "nchw");
}

TEST(ExportRecord, OneInputOfOneValuePerRow) {
  auto entries = ParseRecordLines("mpsbatch.format: 1\nmpsbatch.inputs: x\nmpsbatch.dtypes: float64\n");
  entries.insert_or_assign("mpsbatch.row_shapes", std::string());
  EXPECT_EQ(ReadExportRecord(entries, "m.pt")->row_shapes, std::vector<Shape>{Shape{}});
}

TEST(ExportRecord, NoRecordIsNotChecked) {
  EXPECT_FALSE(ReadExportRecord(ParseRecordLines(""), "m.pt"));
  EXPECT_FALSE(ReadExportRecord({{"AOTI_DEVICE_KEY", "cpu"}}, "m.pt2"));
}

TEST(ExportRecord, UnreadableRecordsAreModelErrors) {
  EXPECT_THROW(ReadExportRecord({{"mpsbatch.format", "2"}}, "m.pt"), ModelError);
  auto entries = ParseRecordLines(kTwoInputs);
  // (insert_or_assign of a std::string: GCC 12 warns, wrongly, of an
  // overlapping copy in operator= from a short literal.)
  entries.insert_or_assign("mpsbatch.row_shapes", std::string("6"));
  EXPECT_THROW(ReadExportRecord(entries, "m.pt"), ModelError);
  entries.insert_or_assign("mpsbatch.row_shapes", std::string("6;3xq"));
  EXPECT_THROW(ReadExportRecord(entries, "m.pt"), ModelError);
}

TEST(ExportRecord, WhatWasExportedForPasses) {
  EXPECT_EQ(ExportRecordMismatch(TwoInputs(), Feeds(), EngineOptions{}, false), "");
  EXPECT_EQ(ExportRecordMismatch(TwoInputs(), Feeds(), EngineOptions{}, true), "");
}

TEST(ExportRecord, AnotherOrderOfTheDatasetsIsRefused) {
  auto feeds = Feeds();
  std::swap(feeds[0].dataset, feeds[1].dataset);
  EXPECT_EQ(ExportRecordMismatch(TwoInputs(), feeds, EngineOptions{}, false),
            "input.datasets lists [m, f], and the model was exported for [f, m] in that order, forward(features, "
            "mask); list input.datasets in forward() order");
}

TEST(ExportRecord, AnotherRowShapeNamesTheLayoutWhenThatDiffers) {
  ExportRecord r = TwoInputs();
  r.layout = "nhwc";
  auto feeds = Feeds();
  feeds[1].row_shape = {2, 3};
  EXPECT_EQ(ExportRecordMismatch(r, feeds, EngineOptions{}, false),
            "the model was exported for input 1 ('m', forward's 'mask') in rows of [3, 2], and the job gives rows of "
            "[2, 3]; set input.layout: nhwc, as when it was exported");
}

TEST(ExportRecord, AFloat32TorchScriptExportRunsAtAnyPrecisionAPackageDoesNot) {
  EngineOptions bf16;
  bf16.precision = Precision::kBf16;
  auto feeds = Feeds();
  feeds[0].dtype = DType::kBFloat16;
  EXPECT_EQ(ExportRecordMismatch(TwoInputs(), feeds, bf16, false), "");
  EXPECT_EQ(ExportRecordMismatch(TwoInputs(), feeds, bf16, true),
            "the model was exported for precision fp32, and the job runs bf16; set precision: fp32 (an AOTInductor "
            "package is not cast), or export it again with --precision bf16");
}

TEST(ExportRecord, IntegerRowsForAFloatInputNameTheCast) {
  auto feeds = Feeds();
  feeds[0].stored = feeds[0].dtype = DType::kUInt8;
  EXPECT_EQ(ExportRecordMismatch(TwoInputs(), feeds, EngineOptions{}, false),
            "the model was exported for input 0 ('f', forward's 'features') as float32, and the job gives it as "
            "uint8 (stored as uint8); set input.dtype: float32, or input.scale (with input.mean and input.std) as "
            "when it was exported");
}

TEST(ExportRecord, AnotherNumberOfInputsIsRefused) {
  auto feeds = Feeds();
  feeds.pop_back();
  EXPECT_EQ(ExportRecordMismatch(TwoInputs(), feeds, EngineOptions{}, false),
            "the model was exported for 2 input(s), forward(features, mask), and input.datasets names 1 [f]; give "
            "one dataset per input, in forward() order");
}

}  // namespace
}  // namespace mpsbatch
