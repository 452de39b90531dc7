#include "comm/calibration_exchange.h"

#include <cstring>
#include <map>
#include <sstream>

namespace mpsbatch {

int ElectDeviceLeader(Communicator& comm, const std::string& device_name) {
  // The lowest rank with the same host and device leads.
  const auto keys = comm.Gather(comm.host() + "\n" + device_name, 0);
  std::string leaders;
  if (comm.rank() == 0) {
    std::map<std::string, int> first;
    for (size_t r = 0; r < keys.size(); ++r) {
      const int leader = first.emplace(keys[r], static_cast<int>(r)).first->second;
      leaders += std::to_string(leader) + " ";
    }
  }
  comm.Broadcast(leaders, 0);
  std::vector<int> leader_of;
  std::istringstream in(leaders);
  for (int l; in >> l;) leader_of.push_back(l);
  return leader_of.at(static_cast<size_t>(comm.rank()));
}

std::vector<HostArray> ShareArrays(Communicator& comm, const std::vector<std::pair<DType, Shape>>& layouts,
                                   const std::function<HostArray(size_t)>& read_on_root, std::exception_ptr* failed) {
  std::vector<HostArray> arrays;
  for (size_t i = 0; i < layouts.size(); ++i) {
    HostArray a(layouts[i].first, layouts[i].second);
    std::string bytes;
    if (comm.rank() == 0 && !*failed) {
      try {
        a = read_on_root(i);
        bytes.assign(reinterpret_cast<const char*>(a.bytes.data()), a.bytes.size());
      } catch (...) {
        *failed = std::current_exception();
      }
    }
    comm.Broadcast(bytes, 0);
    if (bytes.size() == a.bytes.size() && comm.rank() != 0 && !bytes.empty())
      std::memcpy(a.bytes.data(), bytes.data(), bytes.size());
    if (bytes.size() != a.bytes.size())
      arrays.clear();  // rank 0 failed: nothing to share
    else
      arrays.push_back(std::move(a));
  }
  return arrays;
}

std::vector<std::string> ShareChoices(Communicator& comm, const std::string& mine) {
  const auto choices = comm.Gather(mine, 0);
  std::string all;
  if (comm.rank() == 0)
    for (const auto& c : choices) all += c + "\t";
  comm.Broadcast(all, 0);
  std::vector<std::string> fields;
  std::istringstream split(all);
  for (std::string f; std::getline(split, f, '\t');) fields.push_back(f);
  return fields;
}

}  // namespace mpsbatch
