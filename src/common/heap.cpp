#include "common/heap.h"

#include <cstdlib>  // defines __GLIBC__ where the C library is glibc

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace mpsbatch {

void KeepFreedMemory() {
#if defined(__GLIBC__)
  // Setting either one also stops glibc from adjusting them itself.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

}  // namespace mpsbatch
