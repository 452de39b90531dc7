// How the process's heap keeps what it frees: a model's activations are
// megabytes a batch, allocated and freed at every batch.
#pragma once

namespace mpsbatch {

// With glibc, raises malloc's mmap threshold to its most (32 MiB) and its
// trim threshold to 1 GiB, so that blocks freed after a batch are kept and
// reused by the next one. With glibc's defaults, blocks of this size are
// mapped, zeroed by the kernel page by page and unmapped again at every
// batch, or trimmed from the heap once freed: a CPU rank spent up to half its
// time in the kernel that way (docs/performance.md). The process's memory
// then stays at its peak instead of shrinking between batches. Call once, at
// the start of main, before anything large is allocated. Elsewhere (macOS)
// it does nothing.
void KeepFreedMemory();

}  // namespace mpsbatch
