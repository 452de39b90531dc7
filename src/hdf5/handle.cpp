#include "hdf5/handle.h"

#include <vector>

namespace mpsbatch {

namespace {

// HDF5's sec2 driver writes "file write failed: time = <ctime()>\n, filename
// = ...": drop the time, and any newline left.
std::string OneLine(std::string reason) {
  const auto time = reason.find("time = ");
  const auto end = time == std::string::npos ? std::string::npos : reason.find('\n', time);
  if (end != std::string::npos) {
    const size_t comma = reason.compare(end + 1, 2, ", ") == 0 ? 3 : 1;
    reason.erase(time, end - time + comma);
  }
  for (auto& c : reason)
    if (c == '\n' || c == '\r') c = ' ';
  return reason;
}

}  // namespace

void SilenceHdf5Errors() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

std::mutex& Hdf5Mutex() {
  static std::mutex mu;
  return mu;
}

std::string Hdf5Message() {
  std::vector<std::string> reasons;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned, const H5E_error2_t* e, void* data) -> herr_t {
        auto* out = static_cast<std::vector<std::string>*>(data);
        if (e->desc && *e->desc && out->size() < 4) out->push_back(OneLine(e->desc));
        return 0;
      },
      &reasons);
  H5Eclear2(H5E_DEFAULT);
  std::string msg;
  for (const auto& r : reasons) msg += (msg.empty() ? "" : "; ") + r;
  return msg;
}

std::string Hdf5LibraryVersion() {
  unsigned major = 0, minor = 0, release = 0;
  H5get_libversion(&major, &minor, &release);
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(release);
}

std::string FileNameOf(hid_t object) {
  H5Handle file(H5Iget_file_id(object), H5Fclose);
  const ssize_t n = file.valid() ? H5Fget_name(file.get(), nullptr, 0) : -1;
  if (n < 0) return "";
  std::string name(static_cast<size_t>(n) + 1, '\0');
  H5Fget_name(file.get(), name.data(), name.size());
  name.resize(static_cast<size_t>(n));
  return name;
}

int Sec2DescriptorOf(hid_t object) {
  H5Handle file(H5Iget_file_id(object), H5Fclose);
  H5Handle fapl(file.valid() ? H5Fget_access_plist(file.get()) : H5I_INVALID_HID, H5Pclose);
  if (!fapl.valid() || H5Pget_driver(fapl.get()) != H5FD_SEC2) return -1;
  void* handle = nullptr;
  if (H5Fget_vfd_handle(file.get(), H5P_DEFAULT, &handle) < 0 || handle == nullptr) return -1;
  return *static_cast<int*>(handle);
}

std::optional<std::string> ReadStringAttribute(hid_t obj, const char* name) {
  if (H5Aexists(obj, name) <= 0) return std::nullopt;
  H5Handle attr(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose);
  H5Handle type(H5Aget_type(attr.get()), H5Tclose);
  if (H5Tget_class(type.get()) != H5T_STRING || H5Tis_variable_str(type.get()) <= 0) return std::nullopt;
  char* value = nullptr;
  if (H5Aread(attr.get(), type.get(), &value) < 0) return std::nullopt;
  std::string s = value ? value : "";
  H5free_memory(value);
  return s;
}

std::optional<int64_t> ReadIntAttribute(hid_t obj, const char* name) {
  if (H5Aexists(obj, name) <= 0) return std::nullopt;
  H5Handle attr(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose);
  H5Handle type(H5Aget_type(attr.get()), H5Tclose);
  if (H5Tget_class(type.get()) != H5T_INTEGER) return std::nullopt;
  int64_t value = 0;
  if (H5Aread(attr.get(), H5T_NATIVE_INT64, &value) < 0) return std::nullopt;
  return value;
}

}  // namespace mpsbatch
