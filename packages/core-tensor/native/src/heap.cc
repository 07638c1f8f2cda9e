// Tensor buffers (a DiT-S/2 batch-64 step frees and allocates ~14 GB of them) are calloc'ed by V8.
// glibc serves blocks above 32 MB with a fresh mmap and unmaps them on free, so every such buffer
// page-faults in again on first write: a third of a core in the kernel at that size, with both
// threads queued on the page-table lock. Serving them from the heap instead and never trimming it
// turns that into a memset of already-mapped pages. The cost is a process that keeps its peak
// footprint until it exits or calls releaseFreedPages (as PyTorch's CUDA caching allocator keeps its
// blocks until empty_cache), which suits a training run.
#include "kernels.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace difflab {

bool keepFreedPages() {
#if defined(__GLIBC__)
  // mallopt(3): M_MMAP_MAX 0 disables mmap for large blocks; M_TRIM_THRESHOLD -1 disables trimming.
  return mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, -1) == 1;
#else
  return false;
#endif
}

void releaseFreedPages() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

}  // namespace difflab
