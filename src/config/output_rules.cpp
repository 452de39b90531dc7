#include "config/output_rules.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <filesystem>
#include <string_view>

namespace mpsbatch {

namespace {

constexpr std::array<std::string_view, 4> kHdf5Suffixes = {".h5", ".hdf5", ".hdf", ".he5"};

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string NameProblem(const std::string& name) {
  if (name.front() == '/') return "'" + name + "' starts with '/': names are paths from the file's root, without it";
  if (name.back() == '/') return "'" + name + "' ends with '/': name the dataset after the last group";
  size_t begin = 0;
  while (begin <= name.size()) {
    const size_t end = std::min(name.find('/', begin), name.size());
    const std::string part = name.substr(begin, end - begin);
    if (part.empty()) return "'" + name + "' has an empty group name ('//')";
    if (part == "." || part == "..")
      return "'" + name + "' has a '" + part + "' component, which HDF5 does not resolve";
    begin = end + 1;
  }
  return "";
}

}  // namespace

std::string OutputPathProblem(const std::string& path) {
  const std::string suffix = std::filesystem::path(path).extension().string();
  if (suffix.empty()) return "";
  const std::string lower = Lower(suffix);
  for (auto ok : kHdf5Suffixes)
    if (lower == ok) return "";
  // The names of another output's side files: refused later, with a message
  // of their own (write/output_lock.h).
  for (auto side : {".partial", ".chunks", ".lock"})
    if (suffix == side) return "";
  return "'" + path + "' ends in " + suffix +
         ", but mpsbatch writes an HDF5 file; name it with .h5 (or .hdf5, .hdf, .he5, or no suffix) and convert "
         "the datasets afterwards if you need " +
         suffix;
}

std::string OutputNamesProblem(const std::vector<std::string>& names) {
  for (const auto& name : names)
    if (const std::string problem = NameProblem(name); !problem.empty()) return problem;
  for (const auto& group : names)
    for (const auto& name : names)
      if (name.size() > group.size() && name.compare(0, group.size(), group) == 0 && name[group.size()] == '/')
        return "'" + group + "' is a dataset and also the group of '" + name + "'; rename one of them";
  return "";
}

}  // namespace mpsbatch
