// Reading JS arguments with errors that name the field, e.g.
// "step: seqs[3].blockTable must be an Int32Array". Thrown as Napi::TypeError (C++ exceptions on).
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

namespace deepinfer_node {

// An Int32Array (or absent when optional): its data pointer and length, valid until JS runs again.
struct Int32View {
  const int32_t* data = nullptr;
  size_t length = 0;
  bool present = false;
};
struct Float32View {
  const float* data = nullptr;
  size_t length = 0;
  bool present = false;
};

Int32View GetInt32Array(const Napi::Object& obj, const char* key, const std::string& where, bool optional);
Float32View GetFloat32Array(const Napi::Object& obj, const char* key, const std::string& where, bool optional);
struct Uint32View {
  const uint32_t* data = nullptr;
  size_t length = 0;
  bool present = false;
};
Uint32View GetUint32Array(const Napi::Object& obj, const char* key, const std::string& where, bool optional);
// A finite number that is an integer in [min, max]; `fallback` when absent (undefined).
int64_t GetInt(const Napi::Object& obj, const char* key, const std::string& where, int64_t min, int64_t max,
               int64_t fallback);
double GetNumber(const Napi::Object& obj, const char* key, const std::string& where, double fallback);
bool GetBool(const Napi::Object& obj, const char* key, const std::string& where, bool fallback);
// A string; "" when absent (undefined or null).
std::string GetString(const Napi::Object& obj, const char* key, const std::string& where);
// A seed: a non-negative safe integer Number or a BigInt in [0, 2^64). has = false when absent/null.
uint64_t GetSeed(const Napi::Object& obj, const char* key, const std::string& where, bool* has);

}  // namespace deepinfer_node
