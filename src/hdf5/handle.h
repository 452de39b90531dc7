// RAII over HDF5's hid_t, the bridge from HDF5's error stack to mpsbatch's
// typed errors, and the questions both the reader (read/) and the writer
// (write/) ask of an open file: its name, its descriptor, its attributes.
// HDF5 never prints its own error stack to the user: call SilenceHdf5Errors()
// on each thread that calls HDF5, and use Hdf5Message() to read the library's
// reason into an exception. The library may be built without thread safety:
// HDF5 calls come from one thread, or, where two threads use it (the rank
// loop's reader beside rank 0's writer), each holds Hdf5Mutex() around them.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

namespace mpsbatch {

class H5Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  H5Handle() = default;
  H5Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  H5Handle(H5Handle&& o) noexcept : id_(o.id_), closer_(o.closer_) { o.id_ = H5I_INVALID_HID; }
  H5Handle& operator=(H5Handle&& o) noexcept {
    if (this != &o) {
      Reset();
      id_ = o.id_;
      closer_ = o.closer_;
      o.id_ = H5I_INVALID_HID;
    }
    return *this;
  }
  H5Handle(const H5Handle&) = delete;
  H5Handle& operator=(const H5Handle&) = delete;
  ~H5Handle() { Reset(); }

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  // Closes now and reports failure (a destructor cannot); returns the status.
  herr_t Close() {
    herr_t status = 0;
    if (id_ >= 0 && closer_) status = closer_(id_);
    id_ = H5I_INVALID_HID;
    return status;
  }

 private:
  void Reset() { Close(); }
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

// Per thread in a thread-safe build of the library: call it on every thread
// that calls HDF5.
void SilenceHdf5Errors();

// The process's one lock over the HDF5 library, for threads that call it
// beside another thread's calls.
std::mutex& Hdf5Mutex();

// The reasons on the current thread's HDF5 error stack, innermost last, then
// clears the stack, on one line (an I/O failure's reason carries the time
// from ctime(), whose newline would split the error, errno's text included,
// over two lines: it is left out). Empty if the stack is empty.
std::string Hdf5Message();

std::string Hdf5LibraryVersion();

// The name HDF5 opened the file holding `object` (a file, group or dataset)
// under: for an object reached through an external link, the link's target.
// "" if it cannot be asked.
std::string FileNameOf(hid_t object);
// The descriptor HDF5 reads the file holding `object` through, when it uses
// its default (sec2) driver; -1 otherwise. Owned by HDF5.
int Sec2DescriptorOf(hid_t object);

// The attribute `name` of object `obj` (a file or dataset) as a variable-length
// string or an int64; nullopt when it is absent or of another type.
std::optional<std::string> ReadStringAttribute(hid_t obj, const char* name);
std::optional<int64_t> ReadIntAttribute(hid_t obj, const char* name);

}  // namespace mpsbatch
