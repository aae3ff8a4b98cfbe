// The strict JSON parser: accepts RFC 8259, rejects everything else with a located message.
#include "core/json.h"
#include "test_util.h"

using deepinfer::Json;

namespace {
bool parses(const std::string& s, Json* j = nullptr, std::string* err = nullptr) {
  Json tmp;
  std::string e;
  bool ok = Json::parse(s.data(), s.size(), j ? j : &tmp, err ? err : &e);
  return ok;
}
}  // namespace

TEST(parses_values_and_nesting) {
  Json j;
  CHECK(parses(R"({"a": [1, -2.5e3, true, false, null, "x\u00e9\ud83d\ude00\n"], "b": {}, "c": []})", &j));
  CHECK(j.is_object());
  const Json* a = j.find("a");
  CHECK(a != nullptr && a->is_array() && a->items().size() == 6);
  CHECK(a->items()[0].is_integer() && a->items()[0].as_int() == 1);
  CHECK(!a->items()[1].is_integer() && a->items()[1].as_double() == -2500.0);
  CHECK(a->items()[2].as_bool() && !a->items()[3].as_bool() && a->items()[4].is_null());
  CHECK(a->items()[5].as_string() == "x\xc3\xa9\xf0\x9f\x98\x80\n");
  CHECK(j.find("missing") == nullptr);
  CHECK(parses("  17  "));
  CHECK(parses("1e400") || true);  // overflow to inf is accepted by strtod; not used by configs
}

TEST(big_integers_are_exact) {
  Json j;
  CHECK(parses("[9007199254740993]", &j));
  CHECK(j.items()[0].as_int() == 9007199254740993ll);
}

TEST(rejects_malformed_input_with_location) {
  const char* bad[] = {"",      "{",         "[1,]",      "{\"a\":1,}", "{'a':1}", "[01]",      "[1.]",
                       "[.5]",  "[+1]",      "[NaN]",     "[Infinity]", "tru",     "\"abc",     "\"\\x\"",
                       "[1] x", "{\"a\" 1}", "{\"a\":1 \"b\":2}", "\"\\ud800\"", "\"a\tb\"", "{\"a\":1,\"a\":2}",
                       "// c\n{}"};
  for (const char* s : bad) {
    std::string err;
    CHECK_MSG(!parses(s, nullptr, &err), "accepted: %s", s);
    CHECK_MSG(err.find("line") != std::string::npos, "no location for %s: %s", s, err.c_str());
  }
  std::string err;
  CHECK(!parses("{\n  \"a\": [1,\n  2,,]\n}", nullptr, &err));
  CHECK_MSG(err.find("line 3") != std::string::npos, "%s", err.c_str());
}

TEST(depth_is_bounded) {
  std::string deep(1000, '[');
  deep += std::string(1000, ']');
  std::string err;
  CHECK(!parses(deep, nullptr, &err));
  CHECK(err.find("nesting") != std::string::npos);
}

TEST_MAIN()
