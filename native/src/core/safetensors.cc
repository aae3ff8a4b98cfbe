#include "core/safetensors.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <fstream>
#include <set>

#include "core/error.h"
#include "core/json.h"

namespace deepinfer {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::kF32: return "F32";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
    case DType::kF8E4M3: return "F8_E4M3";
  }
  return "?";
}

size_t dtype_size(DType t) { return t == DType::kF32 ? 4 : t == DType::kF8E4M3 ? 1 : 2; }

namespace {

// Largest header the format allows (the reference implementation caps it at 100 MB).
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

DType parse_dtype(const std::string& s, const std::string& tensor, const std::string& path) {
  if (s == "F32") return DType::kF32;
  if (s == "F16") return DType::kF16;
  if (s == "BF16") return DType::kBF16;
  if (s == "F8_E4M3") return DType::kF8E4M3;
  throw Error("unsupported dtype " + s + " for tensor " + tensor + " in " + path +
              " (supported: F32, F16, BF16, and F8_E4M3 for quantized linear weights)");
}

}  // namespace

void SafetensorsCatalog::add_file(const std::string& path) {
  auto file = std::make_unique<MappedFile>(path);
  const size_t size = file->size();
  if (size < 8) throw Error("truncated safetensors file " + path + ": shorter than its 8-byte header length");
  uint64_t header_len = 0;
  std::memcpy(&header_len, file->data(), 8);  // little-endian on every platform we build for
  if (header_len > kMaxHeaderBytes) {
    throw Error("invalid safetensors file " + path + ": header length " + std::to_string(header_len) +
                " is larger than 100 MB");
  }
  if (8 + header_len > size) {
    throw Error("truncated safetensors file " + path + ": header of " + std::to_string(header_len) +
                " bytes but the file has " + std::to_string(size) + " bytes");
  }
  Json header;
  std::string jerr;
  if (!Json::parse(reinterpret_cast<const char*>(file->data() + 8), header_len, &header, &jerr)) {
    throw Error("invalid safetensors header in " + path + ": " + jerr);
  }
  if (!header.is_object()) throw Error("invalid safetensors header in " + path + ": not a JSON object");
  const uint8_t* buffer = file->data() + 8 + header_len;
  const uint64_t buffer_len = size - 8 - header_len;
  for (const auto& m : header.members()) {
    const std::string& name = m.first;
    if (name == "__metadata__") continue;
    const Json& t = m.second;
    const Json* dt = t.find("dtype");
    const Json* shape = t.find("shape");
    const Json* offs = t.find("data_offsets");
    if (dt == nullptr || !dt->is_string() || shape == nullptr || !shape->is_array() || offs == nullptr ||
        !offs->is_array() || offs->items().size() != 2) {
      throw Error("invalid safetensors entry for tensor " + name + " in " + path +
                  ": needs string dtype, array shape and [begin, end] data_offsets");
    }
    TensorView v;
    v.name = name;
    v.dtype = parse_dtype(dt->as_string(), name, path);
    for (const Json& d : shape->items()) {
      if (!d.is_integer() || d.as_int() < 0) throw Error("invalid shape for tensor " + name + " in " + path);
      v.shape.push_back(d.as_int());
    }
    const Json& b = offs->items()[0];
    const Json& e = offs->items()[1];
    if (!b.is_integer() || !e.is_integer() || b.as_int() < 0 || e.as_int() < b.as_int()) {
      throw Error("invalid data_offsets for tensor " + name + " in " + path);
    }
    const uint64_t begin = static_cast<uint64_t>(b.as_int());
    const uint64_t end = static_cast<uint64_t>(e.as_int());
    const uint64_t want = static_cast<uint64_t>(v.numel()) * dtype_size(v.dtype);
    if (end - begin != want) {
      throw Error("tensor " + name + " in " + path + " has " + std::to_string(end - begin) +
                  " bytes but its shape and dtype need " + std::to_string(want));
    }
    if (end > buffer_len) {
      throw Error("truncated safetensors file " + path + ": tensor " + name + " ends at byte " +
                  std::to_string(end) + " of a data section of " + std::to_string(buffer_len) + " bytes");
    }
    v.data = buffer + begin;
    v.nbytes = want;
    v.file = file.get();
    if (tensors_.count(name) != 0) throw Error("tensor " + name + " appears twice (second time in " + path + ")");
    tensors_.emplace(name, std::move(v));
  }
  files_.push_back(std::move(file));
}

std::unique_ptr<SafetensorsCatalog> SafetensorsCatalog::open_dir(const std::string& dir) {
  auto cat = std::make_unique<SafetensorsCatalog>();
  const std::string single = dir + "/model.safetensors";
  const std::string index = dir + "/model.safetensors.index.json";
  if (file_exists(index)) {
    std::string text = read_text_file(index);
    Json j;
    std::string jerr;
    if (!Json::parse(text.data(), text.size(), &j, &jerr)) throw Error("invalid " + index + ": " + jerr);
    const Json* wm = j.find("weight_map");
    if (wm == nullptr || !wm->is_object()) throw Error("invalid " + index + ": missing object field \"weight_map\"");
    std::set<std::string> shards;
    for (const auto& m : wm->members()) {
      if (!m.second.is_string()) throw Error("invalid " + index + ": weight_map[\"" + m.first + "\"] is not a string");
      const std::string& f = m.second.as_string();
      if (f.find('/') != std::string::npos) throw Error("invalid " + index + ": shard name " + f + " has a '/'");
      shards.insert(f);
    }
    for (const auto& s : shards) cat->add_file(dir + "/" + s);
    // The index is the contract: every tensor it names must be in the shard it names.
    for (const auto& m : wm->members()) {
      const TensorView* t = cat->find(m.first);
      if (t == nullptr) {
        throw Error("tensor " + m.first + " is listed in " + index + " but missing from shard " +
                    m.second.as_string());
      }
      if (t->file->path() != dir + "/" + m.second.as_string()) {
        throw Error("tensor " + m.first + " is listed in " + index + " under " + m.second.as_string() +
                    " but found in " + t->file->path());
      }
    }
  } else if (file_exists(single)) {
    cat->add_file(single);
  } else {
    throw Error("no model.safetensors or model.safetensors.index.json in " + dir);
  }
  return cat;
}

const TensorView* SafetensorsCatalog::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors) {
  std::string header = "{";
  uint64_t off = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    if (i) header += ",";
    header += "\"" + t.name + "\":{\"dtype\":\"" + dtype_name(t.dtype) + "\",\"shape\":[";
    for (size_t d = 0; d < t.shape.size(); ++d) header += (d ? "," : "") + std::to_string(t.shape[d]);
    header += "],\"data_offsets\":[" + std::to_string(off) + "," + std::to_string(off + t.bytes.size()) + "]}";
    off += t.bytes.size();
  }
  header += "}";
  while ((8 + header.size()) % 8 != 0) header += " ";  // keep the data 8-byte aligned
  std::ofstream f(path, std::ios::binary);
  if (!f) throw Error("cannot write " + path);
  uint64_t n = header.size();
  f.write(reinterpret_cast<const char*>(&n), 8);
  f.write(header.data(), static_cast<std::streamsize>(header.size()));
  for (const auto& t : tensors) f.write(reinterpret_cast<const char*>(t.bytes.data()), static_cast<std::streamsize>(t.bytes.size()));
  if (!f) throw Error("short write to " + path);
}

float f8e4m3_to_f32(uint8_t b) {
  const int exp = (b >> 3) & 0xf, man = b & 7;
  if (exp == 15 && man == 7) return std::numeric_limits<float>::quiet_NaN();
  // Subnormals (exp 0): man/8 * 2^-6; normals: (1 + man/8) * 2^(exp-7). Both exact in f32.
  const float mag = exp == 0 ? std::ldexp(static_cast<float>(man), -9) : std::ldexp(static_cast<float>(8 + man), exp - 10);
  return (b & 0x80) ? -mag : mag;
}

uint8_t f32_to_f8e4m3(float f) {
  const uint8_t sign = std::signbit(f) ? 0x80 : 0;
  if (std::isnan(f)) return 0x7f;
  const float a = std::fabs(f);
  // Saturate: 448 (S.1111.110) is the largest finite value; no infinities in e4m3fn.
  if (a >= 448.f) return sign | 0x7e;
  if (a < 0.015625f) {  // below 2^-6: subnormal steps of 2^-9 (m = 8 rounds up to the first normal)
    return sign | static_cast<uint8_t>(std::nearbyint(a * 512.f));
  }
  int ex = 0;
  std::frexp(a, &ex);  // a = fr * 2^ex, fr in [0.5, 1): unbiased exponent ex - 1
  int e = ex - 1;
  int m = static_cast<int>(std::nearbyint(std::ldexp(a, 3 - e)));  // in [8, 16], ties to even
  if (m == 16) {
    m = 8;
    ++e;
  }
  const int biased = e + 7;
  if (biased > 15 || (biased == 15 && m == 15)) return sign | 0x7e;
  return sign | static_cast<uint8_t>((biased << 3) | (m - 8));
}

float bf16_to_f32(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t u;
  if (exp == 0) {
    if (mant == 0) {
      u = sign;
    } else {  // subnormal: renormalise
      exp = 127 - 15 + 1;
      while ((mant & 0x400u) == 0) {
        mant <<= 1;
        --exp;
      }
      mant &= 0x3ffu;
      u = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 0x1f) {
    u = sign | 0x7f800000u | (mant << 13);
  } else {
    u = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t f32_to_f16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return sign | 0x7e00u;
  if (a >= 0x477ff000u) return sign | 0x7c00u;  // overflow (after rounding) -> inf
  if (a < 0x38800000u) {                          // subnormal or zero in f16
    if (a < 0x33000000u) return sign;
    const uint32_t e = a >> 23;
    const uint32_t m = (a & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - e;  // 14 + (112 - e) ... total right shift to f16 subnormal
    uint32_t v = m >> (shift);
    const uint32_t rem = m & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (v & 1u))) ++v;
    return sign | static_cast<uint16_t>(v);
  }
  uint32_t v = ((a >> 13) - (112u << 10));
  const uint32_t rem = a & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (v & 1u))) ++v;
  return sign | static_cast<uint16_t>(v);
}

}  // namespace deepinfer
