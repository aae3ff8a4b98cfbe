#include "core/json.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace deepinfer {

namespace {
// Deep nesting never occurs in the files we read; the limit keeps recursion bounded
// so a hostile header cannot overflow the stack.
constexpr int kMaxDepth = 128;
}  // namespace

class JsonParser {
 public:
  JsonParser(const char* p, size_t n) : begin_(p), p_(p), end_(p + n) {}

  bool parse_document(Json* out, std::string* err) {
    skip_ws();
    if (!parse_value(out, 0)) {
      *err = error_;
      return false;
    }
    skip_ws();
    if (p_ != end_) {
      fail("unexpected characters after the JSON value");
      *err = error_;
      return false;
    }
    return true;
  }

 private:
  const char* begin_;
  const char* p_;
  const char* end_;
  std::string error_;

  bool fail(const std::string& msg) {
    if (!error_.empty()) return false;  // keep the first (innermost) error
    size_t line = 1, col = 1;
    for (const char* q = begin_; q < p_ && q < end_; ++q) {
      if (*q == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    error_ = "JSON parse error at line " + std::to_string(line) + ", column " +
             std::to_string(col) + ": " + msg;
    return false;
  }

  void skip_ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }

  bool literal(const char* word) {
    size_t n = std::strlen(word);
    if (static_cast<size_t>(end_ - p_) < n || std::memcmp(p_, word, n) != 0) {
      return fail("invalid literal");
    }
    p_ += n;
    return true;
  }

  bool parse_value(Json* out, int depth) {
    if (depth > kMaxDepth) return fail("nesting deeper than 128");
    if (p_ >= end_) return fail("unexpected end of input");
    switch (*p_) {
      case '{':
        return parse_object(out, depth);
      case '[':
        return parse_array(out, depth);
      case '"':
        out->type_ = Json::Type::kString;
        return parse_string(&out->str_);
      case 't':
        out->type_ = Json::Type::kBool;
        out->bool_ = true;
        return literal("true");
      case 'f':
        out->type_ = Json::Type::kBool;
        out->bool_ = false;
        return literal("false");
      case 'n':
        out->type_ = Json::Type::kNull;
        return literal("null");
      default:
        if (*p_ == '-' || (*p_ >= '0' && *p_ <= '9')) return parse_number(out);
        return fail(std::string("unexpected character '") + *p_ + "'");
    }
  }

  bool parse_object(Json* out, int depth) {
    out->type_ = Json::Type::kObject;
    ++p_;  // '{'
    skip_ws();
    if (p_ < end_ && *p_ == '}') {
      ++p_;
      return true;
    }
    for (;;) {
      skip_ws();
      if (p_ >= end_ || *p_ != '"') return fail("expected a string key");
      std::string key;
      if (!parse_string(&key)) return false;
      for (const auto& m : out->obj_) {
        if (m.first == key) return fail("duplicate key \"" + key + "\"");
      }
      skip_ws();
      if (p_ >= end_ || *p_ != ':') return fail("expected ':'");
      ++p_;
      skip_ws();
      Json v;
      if (!parse_value(&v, depth + 1)) return false;
      out->obj_.emplace_back(std::move(key), std::move(v));
      skip_ws();
      if (p_ >= end_) return fail("unexpected end of input in object");
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ == '}') {
        ++p_;
        return true;
      }
      return fail("expected ',' or '}'");
    }
  }

  bool parse_array(Json* out, int depth) {
    out->type_ = Json::Type::kArray;
    ++p_;  // '['
    skip_ws();
    if (p_ < end_ && *p_ == ']') {
      ++p_;
      return true;
    }
    for (;;) {
      skip_ws();
      Json v;
      if (!parse_value(&v, depth + 1)) return false;
      out->arr_.push_back(std::move(v));
      skip_ws();
      if (p_ >= end_) return fail("unexpected end of input in array");
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ == ']') {
        ++p_;
        return true;
      }
      return fail("expected ',' or ']'");
    }
  }

  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  bool read_hex4(uint32_t* cp) {
    if (end_ - p_ < 4) return fail("truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      int h = hex(p_[i]);
      if (h < 0) return fail("invalid hex digit in \\u escape");
      v = v * 16 + static_cast<uint32_t>(h);
    }
    p_ += 4;
    *cp = v;
    return true;
  }

  static void append_utf8(std::string* s, uint32_t cp) {
    if (cp < 0x80) {
      s->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      s->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      s->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      s->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      s->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      s->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      s->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      s->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      s->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      s->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  bool parse_string(std::string* out) {
    ++p_;  // opening quote
    for (;;) {
      if (p_ >= end_) return fail("unterminated string");
      unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        return true;
      }
      if (c < 0x20) return fail("control character in string");
      if (c != '\\') {
        out->push_back(static_cast<char>(c));
        ++p_;
        continue;
      }
      ++p_;
      if (p_ >= end_) return fail("unterminated escape");
      char e = *p_++;
      switch (e) {
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        case '/': out->push_back('/'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u': {
          uint32_t cp = 0;
          if (!read_hex4(&cp)) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') {
              return fail("unpaired high surrogate");
            }
            p_ += 2;
            uint32_t lo = 0;
            if (!read_hex4(&lo)) return false;
            if (lo < 0xDC00 || lo > 0xDFFF) return fail("invalid low surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return fail("unpaired low surrogate");
          }
          append_utf8(out, cp);
          break;
        }
        default:
          return fail(std::string("invalid escape '\\") + e + "'");
      }
    }
  }

  bool parse_number(Json* out) {
    const char* start = p_;
    bool is_int = true;
    if (*p_ == '-') ++p_;
    if (p_ >= end_) return fail("truncated number");
    if (*p_ == '0') {
      ++p_;
      if (p_ < end_ && *p_ >= '0' && *p_ <= '9') return fail("leading zero in number");
    } else if (*p_ >= '1' && *p_ <= '9') {
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    } else {
      return fail("invalid number");
    }
    if (p_ < end_ && *p_ == '.') {
      is_int = false;
      ++p_;
      if (p_ >= end_ || !(*p_ >= '0' && *p_ <= '9')) return fail("digit expected after '.'");
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      is_int = false;
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ >= end_ || !(*p_ >= '0' && *p_ <= '9')) return fail("digit expected in exponent");
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    std::string text(start, p_);
    out->type_ = Json::Type::kNumber;
    out->num_ = std::strtod(text.c_str(), nullptr);
    if (is_int) {
      errno = 0;
      long long v = std::strtoll(text.c_str(), nullptr, 10);
      if (errno == 0) {
        out->is_int_ = true;
        out->int_ = v;
      }
    }
    return true;
  }
};

bool Json::parse(const char* text, size_t len, Json* out, std::string* err) {
  *out = Json();
  JsonParser p(text, len);
  return p.parse_document(out, err);
}

const Json* Json::find(const std::string& key) const {
  if (type_ != Type::kObject) return nullptr;
  for (const auto& m : obj_) {
    if (m.first == key) return &m.second;
  }
  return nullptr;
}

const char* Json::type_name(Type t) {
  switch (t) {
    case Type::kNull: return "null";
    case Type::kBool: return "bool";
    case Type::kNumber: return "number";
    case Type::kString: return "string";
    case Type::kArray: return "array";
    case Type::kObject: return "object";
  }
  return "?";
}

}  // namespace deepinfer
