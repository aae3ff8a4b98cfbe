// cuBLAS loaded at run time (dlopen), so the engine has no link-time dependency on it and
// builds without its headers. Only the handful of entry points the GEMM uses are declared
// here, with the types written out by hand.
//
// ABI source: NVIDIA cuBLAS API reference (docs.nvidia.com/cuda/cublas, "cublasGemmEx",
// "cublasComputeType_t", "cublasOperation_t", "cublasStatus_t") for cuBLAS 12.x and 13.x,
// where these entry points, enum values and the plain `cublasGemmEx` symbol name are stable:
//   cublasStatus_t      int            (CUBLAS_STATUS_SUCCESS = 0)
//   cublasHandle_t      opaque pointer
//   cublasOperation_t   int            (CUBLAS_OP_N = 0, CUBLAS_OP_T = 1)
//   cublasComputeType_t int            (CUBLAS_COMPUTE_32F = 68: f32 accumulation, no TF32)
//   cublasGemmAlgo_t    int            (CUBLAS_GEMM_DEFAULT = -1)
//   cudaDataType        from the CUDA toolkit's own library_types.h (not a cuBLAS header)
//   cublasCreate_v2 / cublasDestroy_v2 / cublasSetStream_v2 / cublasGetStatusString /
//   cublasSetWorkspace_v2 (handle, void* workspace, size_t bytes)
// Library names tried, in order: the cublas_path setting (a full path), libcublas.so.13,
// libcublas.so.12, libcublas.so, each through the dynamic loader's normal search (LD_LIBRARY_PATH,
// ld.so.cache, RUNPATH), then under $CUDA_HOME/lib64 and /usr/local/cuda/lib64. The
// nvidia-cublas Python wheels' lib directories are not searched (put them on LD_LIBRARY_PATH).
// libcublas pulls libcublasLt in by itself.
#pragma once

#include <string>

namespace deepinfer {
namespace cuda {

using cublasHandle_t = void*;
using cublasStatus_t = int;
constexpr int kCublasOpN = 0;
constexpr int kCublasOpT = 1;
constexpr int kCublasCompute32F = 68;
constexpr int kCublasGemmDefault = -1;

struct CublasApi {
  cublasStatus_t (*create)(cublasHandle_t*) = nullptr;
  cublasStatus_t (*destroy)(cublasHandle_t) = nullptr;
  cublasStatus_t (*set_stream)(cublasHandle_t, void* /*cudaStream_t*/) = nullptr;
  cublasStatus_t (*gemm_ex)(cublasHandle_t, int transa, int transb, int m, int n, int k, const void* alpha,
                            const void* A, int Atype, int lda, const void* B, int Btype, int ldb, const void* beta,
                            void* C, int Ctype, int ldc, int computeType, int algo) = nullptr;
  const char* (*status_string)(cublasStatus_t) = nullptr;  // optional
  // Optional: a caller-owned workspace, so GEMMs captured into CUDA graphs never allocate.
  cublasStatus_t (*set_workspace)(cublasHandle_t, void*, size_t) = nullptr;
  std::string path;  // the library that was loaded
};

// Loads once per process (the first call's `preferred_path` counts; "" = search only). Returns
// nullptr and fills *why (what was looked for, where, and the loader's messages) when cuBLAS
// is not available.
const CublasApi* load_cublas(const std::string& preferred_path, std::string* why);

}  // namespace cuda
}  // namespace deepinfer
