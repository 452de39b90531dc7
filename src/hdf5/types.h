// The mapping between mpsbatch's DType and HDF5's types: the native memory
// type rows are read into and written from, the DType a stored type reads
// into, and a stored type's name for messages.
#pragma once

#include <hdf5.h>

#include <optional>
#include <string>

#include "common/dtype.h"

namespace mpsbatch {

// HDF5 native memory type for `t` (the library's, or for float16 and bool
// this unit's, built once: do not close).
hid_t NativeH5Type(DType t);
// The DType a stored HDF5 type reads into, if mpsbatch supports it.
std::optional<DType> DTypeOfH5Type(hid_t type);
// Human description of a stored type, for messages ("uint16", "string", ...).
std::string DescribeH5Type(hid_t type);

}  // namespace mpsbatch
