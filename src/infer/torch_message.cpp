#include "infer/torch_message.h"

#include <sstream>
#include <vector>

namespace mpsbatch {

std::string Brief(const std::string& msg) {
  std::istringstream in(msg);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    if (line.find_first_not_of(" \t") != std::string::npos) lines.push_back(line);
  if (lines.empty()) return msg;
  if (msg.find("Traceback of TorchScript") != std::string::npos) return lines.back();
  std::string out;
  for (size_t n = 0; n < lines.size() && n < 8; ++n) out += (n ? "\n  " : "") + lines[n];
  return out;
}

std::string Brief(const c10::Error& e) { return Brief(e.what_without_backtrace()); }

}  // namespace mpsbatch
