// A small, strict JSON parser (RFC 8259) for config.json, generation_config.json,
// safetensors headers and test fixtures. Strict on purpose: a malformed config must be
// reported (with line and column), not guessed at. No comments, no trailing commas,
// no NaN/Infinity, nothing after the top-level value except whitespace.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace deepinfer {

class Json {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

  Json() = default;

  // Parses `text`; on failure returns false and sets `err` to a message with line:column.
  static bool parse(const char* text, size_t len, Json* out, std::string* err);

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_number() const { return type_ == Type::kNumber; }
  // True for numbers written without fraction or exponent that fit in int64.
  bool is_integer() const { return type_ == Type::kNumber && is_int_; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_object() const { return type_ == Type::kObject; }

  bool as_bool() const { return bool_; }
  double as_double() const { return num_; }
  int64_t as_int() const { return int_; }
  const std::string& as_string() const { return str_; }
  const std::vector<Json>& items() const { return arr_; }
  // Members in document order (duplicate keys are rejected by the parser).
  const std::vector<std::pair<std::string, Json>>& members() const { return obj_; }

  // Object member lookup; nullptr when absent or when this is not an object.
  const Json* find(const std::string& key) const;

  static const char* type_name(Type t);

 private:
  friend class JsonParser;
  Type type_ = Type::kNull;
  bool bool_ = false;
  bool is_int_ = false;
  double num_ = 0.0;
  int64_t int_ = 0;
  std::string str_;
  std::vector<Json> arr_;
  std::vector<std::pair<std::string, Json>> obj_;
};

}  // namespace deepinfer
