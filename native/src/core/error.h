// Internal error type. Inside the library, failures throw deepinfer::Error with a message
// that names the file, tensor or field at fault; the C API (src/engine.cc) catches every
// exception and turns it into an error string, so no exception ever crosses extern "C".
#pragma once

#include <stdexcept>
#include <string>

namespace deepinfer {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

}  // namespace deepinfer
