// Seconds since a point on the steady clock: how calibration keeps to its time
// budget (engine.cpp's MeasureRowsPerSecond, path_selection.cpp's Select).
#pragma once

#include <chrono>

namespace mpsbatch {

inline double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

}  // namespace mpsbatch
