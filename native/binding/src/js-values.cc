#include "js-values.h"

#include <cmath>

namespace deepinfer_node {

namespace {

[[noreturn]] void Fail(const Napi::Env& env, const std::string& where, const char* key, const char* what) {
  throw Napi::TypeError::New(env, where + "." + key + " " + what);
}

bool Absent(const Napi::Value& v) { return v.IsUndefined(); }

}  // namespace

Int32View GetInt32Array(const Napi::Object& obj, const char* key, const std::string& where, bool optional) {
  Napi::Value v = obj.Get(key);
  Int32View out;
  if (Absent(v) || v.IsNull()) {
    if (!optional) Fail(obj.Env(), where, key, "is required (an Int32Array)");
    return out;
  }
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    Fail(obj.Env(), where, key, "must be an Int32Array");
  }
  auto a = v.As<Napi::Int32Array>();
  out.data = a.Data();
  out.length = a.ElementLength();
  out.present = true;
  return out;
}

Uint32View GetUint32Array(const Napi::Object& obj, const char* key, const std::string& where, bool optional) {
  Napi::Value v = obj.Get(key);
  Uint32View out;
  if (Absent(v) || v.IsNull()) {
    if (!optional) Fail(obj.Env(), where, key, "is required (a Uint32Array)");
    return out;
  }
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
    Fail(obj.Env(), where, key, "must be a Uint32Array");
  }
  auto a = v.As<Napi::Uint32Array>();
  out.data = a.Data();
  out.length = a.ElementLength();
  out.present = true;
  return out;
}

Float32View GetFloat32Array(const Napi::Object& obj, const char* key, const std::string& where, bool optional) {
  Napi::Value v = obj.Get(key);
  Float32View out;
  if (Absent(v) || v.IsNull()) {
    if (!optional) Fail(obj.Env(), where, key, "is required (a Float32Array)");
    return out;
  }
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    Fail(obj.Env(), where, key, "must be a Float32Array");
  }
  auto a = v.As<Napi::Float32Array>();
  out.data = a.Data();
  out.length = a.ElementLength();
  out.present = true;
  return out;
}

int64_t GetInt(const Napi::Object& obj, const char* key, const std::string& where, int64_t min, int64_t max,
               int64_t fallback) {
  Napi::Value v = obj.Get(key);
  if (Absent(v)) return fallback;
  const std::string range = "must be an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
  if (!v.IsNumber()) Fail(obj.Env(), where, key, range.c_str());
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d || d < static_cast<double>(min) || d > static_cast<double>(max)) {
    Fail(obj.Env(), where, key, range.c_str());
  }
  return static_cast<int64_t>(d);
}

double GetNumber(const Napi::Object& obj, const char* key, const std::string& where, double fallback) {
  Napi::Value v = obj.Get(key);
  if (Absent(v)) return fallback;
  if (!v.IsNumber()) Fail(obj.Env(), where, key, "must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

bool GetBool(const Napi::Object& obj, const char* key, const std::string& where, bool fallback) {
  Napi::Value v = obj.Get(key);
  if (Absent(v)) return fallback;
  if (!v.IsBoolean()) Fail(obj.Env(), where, key, "must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

std::string GetString(const Napi::Object& obj, const char* key, const std::string& where) {
  Napi::Value v = obj.Get(key);
  if (Absent(v)) return "";
  if (!v.IsString()) Fail(obj.Env(), where, key, "must be a string");
  return v.As<Napi::String>().Utf8Value();
}

uint64_t GetSeed(const Napi::Object& obj, const char* key, const std::string& where, bool* has) {
  Napi::Value v = obj.Get(key);
  *has = false;
  if (Absent(v) || v.IsNull()) return 0;
  if (v.IsBigInt()) {
    bool lossless = false;
    const uint64_t s = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) Fail(obj.Env(), where, key, "must be a BigInt in [0, 2^64)");
    *has = true;
    return s;
  }
  if (!v.IsNumber()) Fail(obj.Env(), where, key, "must be a non-negative integer (Number or BigInt)");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d || d < 0 || d > 9007199254740991.0) {
    Fail(obj.Env(), where, key, "must be a non-negative safe integer (or a BigInt)");
  }
  *has = true;
  return static_cast<uint64_t>(d);
}

}  // namespace deepinfer_node
