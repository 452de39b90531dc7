// Calibration results kept on disk between jobs, per host.
//
// Calibration builds and times every execution path, which can be most of a
// short job (docs/performance.md has the figures).
// The outcome depends only on the model, the device, the software and the
// batch's shape, so a job that repeats all of them (the same model on the next
// dataset) takes the earlier choice and builds only that path. Engine::Adopt
// still checks it against eager on real rows; a choice that no longer builds
// or agrees is measured again. Entries are small text files named by the
// SHA-256 of their key, which they also hold in full; writing one replaces
// it atomically, so concurrent jobs on a host never read half a file.
#pragma once

#include <optional>
#include <string>

namespace mpsbatch {

struct CachedCalibration {
  int64_t batch_size = 0;
  std::string path;     // Calibration::chosen
  std::string summary;  // how it was measured, for the log
};

class CalibrationCache {
 public:
  // An entry for `key` (everything the measurement depends on, one fact per
  // line) in `folder`; an empty folder turns the cache off.
  CalibrationCache(std::string folder, std::string key);

  bool enabled() const { return !folder_.empty(); }
  const std::string& file() const { return file_; }

  // The entry, or nullopt when there is none, or it is unreadable, malformed
  // or for another key (all treated as a miss). Never throws.
  std::optional<CachedCalibration> Load() const;
  // Writes the entry; returns "" or why it could not (the job goes on without
  // it). Never throws.
  std::string Store(const CachedCalibration& entry) const;

 private:
  std::string folder_;
  std::string key_;
  std::string file_;
};

// The folder `calibration_cache: auto` means: $XDG_CACHE_HOME/mpsbatch, else
// $HOME/.cache/mpsbatch, with /calibration appended; "" if neither is set.
std::string DefaultCalibrationCacheFolder();

// The host's processor model ("" if unknown), part of a CPU device's key.
std::string HostProcessorModel();

}  // namespace mpsbatch
