#include "backends/cuda/cublas_loader.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <vector>

namespace deepinfer {
namespace cuda {

namespace {

std::once_flag g_once;
CublasApi g_api;
bool g_ok = false;
std::string g_why;

template <typename F>
bool sym(void* lib, const char* name, F* out, std::string* missing) {
  void* p = dlsym(lib, name);
  if (p == nullptr) {
    *missing += std::string(" ") + name;
    return false;
  }
  *out = reinterpret_cast<F>(p);
  return true;
}

void load(const std::string& preferred_path) {
  std::vector<std::string> candidates;
  if (!preferred_path.empty()) candidates.push_back(preferred_path);
  const char* names[] = {"libcublas.so.13", "libcublas.so.12", "libcublas.so"};
  for (const char* n : names) candidates.push_back(n);
  std::vector<std::string> dirs;
  if (const char* h = std::getenv("CUDA_HOME")) dirs.push_back(std::string(h) + "/lib64");
  dirs.push_back("/usr/local/cuda/lib64");
  for (const std::string& d : dirs) {
    for (const char* n : names) candidates.push_back(d + "/" + n);
  }
  std::string tried;
  for (const std::string& c : candidates) {
    void* lib = dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
      const char* e = dlerror();
      tried += "\n  " + c + ": " + (e != nullptr ? e : "not found");
      continue;
    }
    std::string missing;
    CublasApi a;
    bool ok = sym(lib, "cublasCreate_v2", &a.create, &missing);
    ok = sym(lib, "cublasDestroy_v2", &a.destroy, &missing) && ok;
    ok = sym(lib, "cublasSetStream_v2", &a.set_stream, &missing) && ok;
    ok = sym(lib, "cublasGemmEx", &a.gemm_ex, &missing) && ok;
    std::string ignored;
    sym(lib, "cublasGetStatusString", &a.status_string, &ignored);
    sym(lib, "cublasSetWorkspace_v2", &a.set_workspace, &ignored);
    if (!ok) {
      tried += "\n  " + c + ": loaded, but missing symbols:" + missing;
      dlclose(lib);
      continue;
    }
    a.path = c;
    g_api = a;
    g_ok = true;
    return;  // the library stays loaded for the life of the process
  }
  g_why = "cuBLAS not found (set cublas_path / DEEPINFER_CUBLAS_PATH to libcublas.so.N, or add its directory to "
          "LD_LIBRARY_PATH); tried:" + tried;
}

}  // namespace

const CublasApi* load_cublas(const std::string& preferred_path, std::string* why) {
  std::call_once(g_once, load, preferred_path);
  if (!g_ok) {
    if (why != nullptr) *why = g_why;
    return nullptr;
  }
  return &g_api;
}

}  // namespace cuda
}  // namespace deepinfer
