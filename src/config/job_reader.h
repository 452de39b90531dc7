// Typed reads of the job file's YAML tree (config/job.cpp's one helper):
// strings, numbers, enums, lists and paths, each problem a ConfigError that
// names the file and line, or the --set option, the key and what it expected.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "common/dtype.h"
#include "common/enum_table.h"
#include "common/error.h"
#include "common/nearest.h"
#include "config/job.h"

namespace mpsbatch {

// Every key a job file may hold: dotted path of a mapping -> its keys.
using JobSchema = std::map<std::string, std::set<std::string>>;

// "parent.key", or "key" at the top level.
inline std::string Join(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

// Reads typed values out of the YAML tree, turning every problem into a
// ConfigError that says where it is.
class JobReader {
 public:
  // `schema`: every key the job file may hold, by its dotted path ("" for the
  // top level); it must outlive the reader.
  JobReader(const JobSchema& schema, std::string source, std::string base_dir)
      : schema_(schema), source_(std::move(source)), base_dir_(std::move(base_dir)) {}

  // Records that `key` came from --set (so errors name the option, and its
  // relative paths resolve against the current directory).
  void MarkOverridden(const std::string& key) { overridden_.insert(key); }

  // True if --set gave `key`, a mapping that holds it, or a key below it
  // (`--set batch_size.x=1` turns batch_size into a mapping).
  bool Overridden(const std::string& key) const {
    for (size_t dot = 0; dot != std::string::npos; dot = key.find('.', dot + 1))
      if (overridden_.count(dot == 0 ? key : key.substr(0, dot))) return true;
    for (const auto& o : overridden_)
      if (o.size() > key.size() && o.compare(0, key.size(), key) == 0 && o[key.size()] == '.') return true;
    return false;
  }

  [[noreturn]] void Fail(const std::string& key, const YAML::Node& node, const std::string& what) const {
    if (Overridden(key)) throw ConfigError("--set " + key + ": " + what);
    FailInFile(key, node, what);
  }

  // As Fail, naming the file's line even where --set also gave the key.
  [[noreturn]] void FailInFile(const std::string& key, const YAML::Node& node, const std::string& what) const {
    std::string where = source_;
    if (node.IsDefined() && node.Mark().line >= 0) where += ":" + std::to_string(node.Mark().line + 1);
    throw ConfigError(where + ": " + key + ": " + what);
  }

  void CheckKeys(const YAML::Node& map, const std::string& path) const {
    if (!map.IsMap()) Fail(path.empty() ? "(top level)" : path, map, "expected a mapping of keys");
    const auto& allowed = schema_.at(path);
    std::set<std::string> seen;
    for (const auto& kv : map) {
      const std::string key = kv.first.as<std::string>();
      // yaml-cpp keeps duplicates, and lookups see only the first.
      if (!seen.insert(key).second) FailInFile(Join(path, key), kv.first, "appears twice; give it once");
      if (allowed.count(key)) continue;
      // Suggest only close names.
      const auto near = Nearest(key, std::vector<std::string>(allowed.begin(), allowed.end()), 2);
      Fail(Join(path, key), kv.first, "unknown key" + (near ? " (did you mean '" + *near + "'?)" : std::string()));
    }
  }

  static YAML::Node Child(const YAML::Node& map, const std::string& key) {
    return map.IsMap() ? map[key] : YAML::Node(YAML::NodeType::Undefined);
  }

  YAML::Node Required(const YAML::Node& map, const std::string& path, const std::string& key) const {
    YAML::Node n = Child(map, key);
    if (!n.IsDefined() || n.IsNull()) Fail(Join(path, key), map, "required key is missing");
    return n;
  }

  std::string String(const YAML::Node& n, const std::string& key) const {
    if (!n.IsScalar()) Fail(key, n, "expected a string");
    return n.Scalar();
  }

  int64_t Integer(const YAML::Node& n, const std::string& key, int64_t min) const {
    int64_t v = 0;
    if (!n.IsScalar() || !YAML::convert<int64_t>::decode(n, v))
      Fail(key, n, "expected an integer, got '" + Text(n) + "'");
    if (v < min) Fail(key, n, "must be >= " + std::to_string(min) + ", got " + std::to_string(v));
    return v;
  }

  double Number(const YAML::Node& n, const std::string& key) const {
    double v = 0;
    if (!n.IsScalar() || !YAML::convert<double>::decode(n, v)) Fail(key, n, "expected a number, got '" + Text(n) + "'");
    return v;
  }

  bool Bool(const YAML::Node& n, const std::string& key) const {
    bool v = false;
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v))
      Fail(key, n, "expected true or false, got '" + Text(n) + "'");
    return v;
  }

  // One of `words` (returned), or a number of seconds in (0, max] (returned
  // in `seconds`, with "").
  std::string WordOrSeconds(const YAML::Node& n, const std::string& key, std::initializer_list<const char*> words,
                            int64_t max, double& seconds) const {
    const std::string value = n.IsScalar() ? n.Scalar() : "";
    std::string expected;
    for (const char* word : words) {
      if (value == word) return value;
      expected += std::string(word) + ", ";
    }
    expected.replace(expected.size() - 2, 2, " or ");  // "auto, off or "
    if (n.IsScalar() && YAML::convert<double>::decode(n, seconds) && seconds > 0 && seconds <= static_cast<double>(max))
      return "";
    Fail(key, n,
         "expected " + expected + "a number of seconds > 0 and <= " + std::to_string(max) + ", got " +
             (n.IsScalar() ? "'" + value + "'" : std::string("a list or mapping")));
  }

  // max_failed_rows: none, a count of rows, or a percentage of them ("0.1%").
  FailedRowsLimit FailedRows(const YAML::Node& n, const std::string& key) const {
    FailedRowsLimit limit;
    const std::string value = n.IsScalar() ? n.Scalar() : "";
    if (value == "none") return limit;
    double percent = 0;
    if (value.ends_with("%") && YAML::convert<double>::decode(YAML::Node(value.substr(0, value.size() - 1)), percent) &&
        percent >= 0 && percent <= 100) {
      limit.percent = percent;
      return limit;
    }
    int64_t count = 0;
    if (n.IsScalar() && YAML::convert<int64_t>::decode(n, count) && count >= 0) {
      limit.count = count;
      return limit;
    }
    Fail(key, n,
         "expected none, a number of rows >= 0 or a percentage of the rows such as 0.1%, got '" + Text(n) + "'");
  }

  template <typename E>
  E Choice(const YAML::Node& n, const std::string& key, std::span<const EnumName<E>> table) const {
    std::string s = String(n, key);
    if (auto value = ValueIn(table, s)) return *value;
    Fail(key, n, "'" + s + "' is not one of " + NamesIn(table));
  }

  DType Dtype(const YAML::Node& n, const std::string& key, bool output) const {
    auto t = ParseDType(String(n, key));
    if (!t) Fail(key, n, "unknown dtype '" + n.Scalar() + "'");
    if (output && *t != DType::kFloat32 && *t != DType::kFloat64 && *t != DType::kInt64 && *t != DType::kInt32)
      Fail(key, n, "'" + n.Scalar() + "' cannot be stored; use float32, float64, int32 or int64");
    return *t;
  }

  // A number or a list of numbers.
  std::vector<double> NumberList(const YAML::Node& n, const std::string& key) const {
    std::vector<double> out;
    if (n.IsScalar()) {
      out.push_back(Number(n, key));
    } else if (n.IsSequence()) {
      for (const auto& item : n) out.push_back(Number(item, key));
    } else {
      Fail(key, n, "expected a number or a list of numbers");
    }
    if (out.empty()) Fail(key, n, "the list is empty");
    for (double v : out)
      if (!std::isfinite(v)) Fail(key, n, "values must be finite");
    return out;
  }

  std::vector<std::string> StringList(const YAML::Node& n, const std::string& key) const {
    std::vector<std::string> out;
    if (n.IsScalar()) {
      out.push_back(n.Scalar());
    } else if (n.IsSequence()) {
      for (const auto& item : n) out.push_back(String(item, key));
    } else {
      Fail(key, n, "expected a name or a list of names");
    }
    if (out.empty()) Fail(key, n, "the list is empty");
    std::set<std::string> seen;
    for (const auto& s : out) {
      if (s.empty()) Fail(key, n, "a name is empty");
      if (!seen.insert(s).second) Fail(key, n, "'" + s + "' appears twice");
    }
    return out;
  }

  // Resolves a path value and writes the absolute path back into the tree.
  std::string Path(YAML::Node n, const std::string& key) const {
    std::string s = String(n, key);
    if (s.empty()) Fail(key, n, "the path is empty");
    std::filesystem::path p(s);
    if (p.is_relative()) p = (Overridden(key) ? std::filesystem::current_path() : std::filesystem::path(base_dir_)) / p;
    std::string abs = p.lexically_normal().string();
    n = abs;
    return abs;
  }

 private:
  static std::string Text(const YAML::Node& n) {
    if (n.IsScalar()) return n.Scalar();
    std::stringstream ss;
    ss << n;
    return ss.str();
  }

  const JobSchema& schema_;
  std::string source_;
  std::string base_dir_;
  std::set<std::string> overridden_;
};

}  // namespace mpsbatch
