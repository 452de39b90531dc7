// One output dataset of a job: its name, its dtype and the shape of one row.
// The plan derives it from the model's probe batch (plan/job_plan.h); the
// result writer (write/result_writer.h) creates, or on a resume checks, one
// dataset per spec. Here, below both, so that neither includes the other's
// folder for it.
#pragma once

#include <string>

#include "common/dtype.h"

namespace mpsbatch {

struct OutputSpec {
  std::string name;
  DType dtype = DType::kFloat32;
  Shape row_shape;  // per-row shape; the dataset is [rows] + row_shape

  size_t row_bytes() const { return static_cast<size_t>(NumElements(row_shape)) * DTypeSize(dtype); }
};

}  // namespace mpsbatch
