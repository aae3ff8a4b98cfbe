#include "backends/cpu/kernels.h"

#include <cstdlib>
#include <cstring>

namespace deepinfer {
namespace cpu {

const KernelTable& kernels() {
  // Chosen once; the choice is process-wide so all steps of all engines use one path
  // (results are then reproducible within a process, and batch-invariant).
  static const KernelTable* chosen = [] {
    const char* want = std::getenv("DEEPINFER_DEV_CPU_KERNELS");
    if (want != nullptr) {
      if (std::strcmp(want, "scalar") == 0) return &scalar_kernels();
      if (std::strcmp(want, "avx2") == 0 && avx2_kernels() != nullptr) return avx2_kernels();
      if (std::strcmp(want, "avx512") == 0 && avx512_kernels() != nullptr) return avx512_kernels();
    }
    if (avx512_kernels() != nullptr) return avx512_kernels();
    if (avx2_kernels() != nullptr) return avx2_kernels();
    return &scalar_kernels();
  }();
  return *chosen;
}

}  // namespace cpu
}  // namespace deepinfer
