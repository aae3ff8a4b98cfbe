// safetensors reader (and a small writer used by tests and the benchmark to make models).
// Format: u64 little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
// then the byte buffer; offsets are relative to the buffer start.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/mapped_file.h"

namespace deepinfer {

// kF8E4M3 (OCP FP8 E4M3, "e4m3fn": no infinities, S.1111.111 is NaN) appears only as the stored
// type of quantized linear weights, always with scale tensors (weights.h), and as the KV cache
// type kv_cache_dtype fp8 (core/kv_fp8.h); it is never a served type.
enum class DType { kF32, kF16, kBF16, kF8E4M3 };

const char* dtype_name(DType t);
size_t dtype_size(DType t);

// A tensor as it lies in a mapped file. Invariant: data points inside the owning
// MappedFile, nbytes == numel * dtype_size(dtype), and the mapping outlives the view.
struct TensorView {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;  // row-major, outermost first (HF [out_features, in_features])
  const uint8_t* data = nullptr;
  size_t nbytes = 0;
  const MappedFile* file = nullptr;
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
};

// All tensors of a model, from one file or from shards listed in model.safetensors.index.json.
class SafetensorsCatalog {
 public:
  // Loads `model_dir/model.safetensors`, or the shards named by the index. Throws Error with
  // the file and field at fault (truncated file, bad header JSON, unsupported dtype, ...).
  static std::unique_ptr<SafetensorsCatalog> open_dir(const std::string& model_dir);
  // Adds one file's tensors (used by open_dir; public for tests).
  void add_file(const std::string& path);

  const TensorView* find(const std::string& name) const;
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const std::vector<std::unique_ptr<MappedFile>>& files() const { return files_; }

 private:
  std::vector<std::unique_ptr<MappedFile>> files_;
  std::map<std::string, TensorView> tensors_;
};

// Minimal writer: tensors are written in the given order, raw bytes of any DType.
struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;  // numel * dtype_size
};
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors);

// Conversions (round-to-nearest-even for f32 -> bf16/f16).
float bf16_to_f32(uint16_t h);
// Exact: every E4M3 value is an f32. NaN bytes (0x7f, 0xff) give NaN.
float f8e4m3_to_f32(uint8_t b);
// f32 -> E4M3, round to nearest even, saturating at +-448 (no infinities); NaN -> 0x7f.
uint8_t f32_to_f8e4m3(float f);
float f16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);
uint16_t f32_to_f16(float f);

}  // namespace deepinfer
