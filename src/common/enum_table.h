// One table per enum: each value beside the one name the job file, the logs
// and the output's attributes spell it with. Parsing and printing both read
// the same table, so a new value is added in one place.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace mpsbatch {

template <typename E>
struct EnumName {
  E value;
  const char* name;
};

template <typename E>
const char* NameIn(std::span<const EnumName<E>> table, E value) {
  for (const auto& entry : table)
    if (entry.value == value) return entry.name;
  return "?";
}

template <typename E>
std::optional<E> ValueIn(std::span<const EnumName<E>> table, std::string_view name) {
  for (const auto& entry : table)
    if (name == entry.name) return entry.value;
  return std::nullopt;
}

// "a | b | c": the names a value may take, for error messages.
template <typename E>
std::string NamesIn(std::span<const EnumName<E>> table) {
  std::string names;
  for (const auto& entry : table) names += (names.empty() ? "" : " | ") + std::string(entry.name);
  return names;
}

}  // namespace mpsbatch
