#include "config/output_rules.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <filesystem>
#include <string_view>

namespace mpsbatch {

namespace {

constexpr std::array<std::string_view, 4> kHdf5Suffixes = {".h5", ".hdf5", ".hdf", ".he5"};
// The endings of another output's side files (write/output_lock.h).
constexpr std::array<std::string_view, 3> kSideSuffixes = {".partial", ".partial.chunks", ".lock"};

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// `path`'s suffix if it is neither an HDF5 file's nor none.
std::string ForeignSuffix(const std::string& path) {
  const std::string suffix = std::filesystem::path(path).extension().string();
  const std::string lower = Lower(suffix);
  for (auto ok : kHdf5Suffixes)
    if (lower == ok) return "";
  return suffix;
}

// The side file's ending `path` has, or "".
std::string SideSuffix(const std::string& path) {
  for (auto side : kSideSuffixes)
    if (path.ends_with(side)) return std::string(side);
  return "";
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
  const std::string suffix = ForeignSuffix(path);
  // A side file's name is refused later, with a message of its own
  // (CheckOutputFiles).
  if (suffix.empty() || !SideSuffix(path).empty()) return "";
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

namespace {

constexpr std::array<std::string_view, 3> kPlaceholders = {"{stem}", "{name}", "{index}"};

bool HasPlaceholder(const std::string& text) {
  return std::any_of(kPlaceholders.begin(), kPlaceholders.end(),
                     [&](std::string_view p) { return text.find(p) != std::string::npos; });
}

}  // namespace

std::string OutputPatternProblem(const std::string& path, bool per_input) {
  const std::filesystem::path p(path);
  const std::string name = p.filename().string(), folder = p.parent_path().string();
  if (!per_input) {
    if (!HasPlaceholder(path)) return "";
    return "'" + path +
           "' holds a placeholder ({stem}, {name} or {index}) of one output file per input file; set "
           "output.per_input: true for that, or give output.path one file's name";
  }
  if (HasPlaceholder(folder))
    return "'" + path + "': placeholders go in the file name, not in its folder (one folder holds every file); e.g. " +
           (p.parent_path().parent_path() / "{stem}.h5").string();
  if (!HasPlaceholder(name))
    return "'" + path +
           "' names one file, but output.per_input: true writes one per input file; put {stem} (the input file's "
           "name without its suffix), {name} or {index} in the file name, e.g. " +
           (p.parent_path() / "{stem}.h5").string();
  for (size_t open = name.find('{'); open != std::string::npos; open = name.find('{', open + 1)) {
    const size_t close = name.find('}', open);
    const std::string token = name.substr(open, close == std::string::npos ? std::string::npos : close - open + 1);
    if (std::find(kPlaceholders.begin(), kPlaceholders.end(), token) == kPlaceholders.end())
      return "'" + path + "' holds '" + token + "', which is no placeholder; use {stem}, {name} or {index}";
  }
  return "";
}

std::string ExpandedOutputProblem(const std::string& pattern, const std::string& input, size_t index, size_t count) {
  const std::filesystem::path p(pattern);
  const std::string name = ExpandOutputPattern(p.filename().string(), input, index, count);
  const std::string suffix = ForeignSuffix(name);
  std::string problem;
  // An input file's odd name ("...", "..h5") can make a folder's name.
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos)
    problem = "is a folder's name, not a file's";
  else if (const std::string side = SideSuffix(name); !side.empty())
    problem = "ends in " + side + ", the name of a file mpsbatch keeps beside an output while it is written";
  else if (!suffix.empty())
    problem = "ends in " + suffix + ", but mpsbatch writes HDF5 files";
  else
    return "";
  // A pattern that ends in .h5 gives every output an HDF5 name; {name}.h5
  // would keep the input's suffix too.
  std::string fix = p.filename().string();
  if (fix.ends_with("{name}")) fix.replace(fix.size() - 6, 6, "{stem}");
  return "'" + pattern + "' names the output of input file " + input + " " +
         ExpandOutputPattern(pattern, input, index, count) + ", which " + problem +
         "; end the pattern's file name in .h5 (e.g. " + (p.parent_path() / (fix + ".h5")).string() + ")";
}

std::string ExpandOutputPattern(const std::string& pattern, const std::string& input, size_t index, size_t count) {
  const std::filesystem::path in(input);
  std::string digits = std::to_string(index);
  const size_t width = std::to_string(count).size();
  if (digits.size() < width) digits.insert(0, width - digits.size(), '0');
  const std::pair<std::string_view, std::string> values[] = {
      {"{stem}", in.stem().string()}, {"{name}", in.filename().string()}, {"{index}", digits}};
  std::string out;
  for (size_t at = 0; at < pattern.size();) {
    bool replaced = false;
    for (const auto& [key, value] : values)
      if (pattern.compare(at, key.size(), key) == 0) {
        out += value;
        at += key.size();
        replaced = true;
        break;
      }
    if (!replaced) out += pattern[at++];
  }
  return out;
}

}  // namespace mpsbatch
