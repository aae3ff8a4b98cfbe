// GEMMs: C[M, N] (+)= A[M, K] * W[N, K]^T with f32 accumulation and f32 output.
// Path 1: cublasGemmEx from the dlopen'ed cuBLAS (A, W in the model type; C f32;
//         CUBLAS_COMPUTE_32F, so f32 models get exact f32 FMA, no TF32).
// Path 2: a built-in tiled kernel (correctness fallback, and batch-invariant by construction:
//         every output is one FMA chain over k in order, whatever M is).
#include <library_types.h>

#include <cstdlib>
#include <string>

#include "backends/cuda/cublas_loader.h"
#include "backends/cuda/kernels.h"

namespace deepinfer {
namespace cuda {

namespace {

constexpr int kTM = 64, kTN = 64, kTK = 16;  // 256 threads, 4x4 outputs each

template <typename T>
__global__ void __launch_bounds__(256) gemm_fallback_kernel(const T* __restrict__ A, const T* __restrict__ W,
                                                            float* __restrict__ C, int M, int N, int K, int ldc,
                                                            bool accumulate) {
  __shared__ float As[kTK][kTM + 1];
  __shared__ float Ws[kTK][kTN + 1];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int m0 = blockIdx.y * kTM, n0 = blockIdx.x * kTN;
  float acc[4][4] = {};
  for (int k0 = 0; k0 < K; k0 += kTK) {
    for (int i = threadIdx.x; i < kTM * kTK; i += 256) {
      const int r = i / kTK, c = i % kTK;
      const int m = m0 + r, k = k0 + c;
      As[c][r] = (m < M && k < K) ? to_f32(A[static_cast<int64_t>(m) * K + k]) : 0.f;
      const int n = n0 + r;
      Ws[c][r] = (n < N && k < K) ? to_f32(W[static_cast<int64_t>(n) * K + k]) : 0.f;
    }
    __syncthreads();
    const int kk = K - k0 < kTK ? K - k0 : kTK;
    for (int c = 0; c < kk; ++c) {
      float a[4], w[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) a[i] = As[c][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < 4; ++j) w[j] = Ws[c][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], w[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int m = m0 + ty + 16 * i;
    if (m >= M) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int n = n0 + tx + 16 * j;
      if (n >= N) continue;
      float* c = C + static_cast<int64_t>(m) * ldc + n;
      *c = accumulate ? *c + acc[i][j] : acc[i][j];
    }
  }
}

int cuda_type(Dt dt) { return dt == Dt::kF32 ? CUDA_R_32F : dt == Dt::kF16 ? CUDA_R_16F : CUDA_R_16BF; }

}  // namespace

void launch_gemm_fallback(const void* A, const void* W, Dt dt, float* C, int M, int N, int K, int ldc,
                          bool accumulate, cudaStream_t s) {
  if (M == 0 || N == 0) return;
  const dim3 grid((N + kTN - 1) / kTN, (M + kTM - 1) / kTM);
  DI_DISPATCH_DT(dt, E,
                 gemm_fallback_kernel<E><<<grid, 256, 0, s>>>(static_cast<const E*>(A), static_cast<const E*>(W), C,
                                                               M, N, K, ldc, accumulate));
  DI_CUDA_LAUNCH_CHECK("gemm_fallback");
}

void Gemm::init(cudaStream_t s, const std::string& mode, const std::string& cublas_path) {
  if (mode == "fallback") {
    note_ = "built-in tiled GEMM (cuda_gemm=fallback)";
    return;
  }
  const bool required = mode == "cublas";
  std::string why;
  const CublasApi* api = load_cublas(cublas_path, &why);
  if (api == nullptr) {
    if (required) throw Error("config.cuda_gemm: cublas was required but " + why);
    note_ = "built-in tiled GEMM (slow): " + why;
    return;
  }
  cublasHandle_t h = nullptr;
  const int st = api->create(&h);
  if (st != 0) {
    why = "cublasCreate failed with status " + std::to_string(st);
    if (required) throw Error("config.cuda_gemm: cublas was required but " + why);
    note_ = "built-in tiled GEMM (slow): " + why;
    return;
  }
  api->set_stream(h, s);
  // A fixed workspace (32 MiB, NVIDIA's recommendation for Hopper and newer): GEMMs captured
  // into CUDA graphs must not allocate.
  if (api->set_workspace != nullptr && cudaMalloc(&workspace_, kWorkspaceBytes) == cudaSuccess) {
    api->set_workspace(h, workspace_, kWorkspaceBytes);
  } else {
    cudaGetLastError();
    workspace_ = nullptr;
  }
  handle_ = h;
  note_ = "cuBLAS (" + api->path + ")";
}

void Gemm::force_fallback() {
  if (handle_ != nullptr) {
    const CublasApi* api = load_cublas("", nullptr);
    if (api != nullptr) api->destroy(handle_);
    handle_ = nullptr;
  }
  note_ = "built-in tiled GEMM (forced)";
}

Gemm::~Gemm() {
  if (handle_ != nullptr) {
    const CublasApi* api = load_cublas("", nullptr);
    if (api != nullptr) api->destroy(handle_);
  }
  if (workspace_ != nullptr) cudaFree(workspace_);
}

void Gemm::run(const void* A, const void* W, Dt dt, float* C, int M, int N, int K, int ldc, bool accumulate,
               cudaStream_t s) const {
  if (M == 0 || N == 0) return;
  if (handle_ == nullptr) {
    launch_gemm_fallback(A, W, dt, C, M, N, K, ldc, accumulate, s);
    return;
  }
  const CublasApi* api = load_cublas("", nullptr);
  // Row-major C[M, N] = A[M, K] W[N, K]^T is column-major C^T[N, M] = W^T... i.e.
  // gemm(op(W) = T: [N, K], op(A) = N: [K, M]) with lda = ldb = K, ldc.
  const float alpha = 1.f, beta = accumulate ? 1.f : 0.f;
  const int t = cuda_type(dt);
  const int st = api->gemm_ex(handle_, kCublasOpT, kCublasOpN, N, M, K, &alpha, W, t, K, A, t, K, &beta, C, CUDA_R_32F,
                              ldc, kCublasCompute32F, kCublasGemmDefault);
  if (st != 0) {
    throw Error(std::string("cublasGemmEx failed (M=") + std::to_string(M) + " N=" + std::to_string(N) +
                " K=" + std::to_string(K) + "): " + (api->status_string ? api->status_string(st) : std::to_string(st)));
  }
}

}  // namespace cuda
}  // namespace deepinfer
