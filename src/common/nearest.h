// The names a user may have meant: edit distance between two names, and the
// nearest of a list of candidates, for "did you mean" hints in messages.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace mpsbatch {

// Edit distance (optimal string alignment): insertions, deletions,
// substitutions and transpositions of adjacent bytes, each one edit.
size_t EditDistance(const std::string& a, const std::string& b);

// The candidate nearest to `name`, if one is within `max_distance` edits. A
// candidate that is a path ("a/b/images") is also measured by its trailing
// components ("b/images", "images"), so that "images" finds "a/b/images";
// at equal distance a match of the whole name wins, then the first.
std::optional<std::string> Nearest(const std::string& name, const std::vector<std::string>& candidates,
                                   size_t max_distance);

}  // namespace mpsbatch
