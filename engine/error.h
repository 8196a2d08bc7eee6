// Errors: one exception type, vggtl::Error, and the checks that throw it.
// VGGTL_CHECK(cond, message pieces...) stays on in Release builds; the CUDA-library checks live in engine/cuda_check.h.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace vggtl {

// What kind of failure, so that apps can map it to an exit status (spec: 2 = bad usage or
// bad input, 1 = anything else).
enum class ErrorKind { Internal, BadInput, Usage, Interrupted };

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what, ErrorKind kind = ErrorKind::Internal)
      : std::runtime_error(what), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

// A problem with what the user gave us (a file, a folder, an option): exit status 2.
class InputError : public Error {
 public:
  explicit InputError(const std::string& what) : Error(what, ErrorKind::BadInput) {}
};

[[noreturn]] void throw_check_failure(const char* cond, const char* file, int line,
                                      const std::string& msg);

namespace detail {
// Builds the message of a failed check from any streamable pieces.
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace vggtl

#define VGGTL_CHECK(cond, ...)                                                        \
  do {                                                                                \
    if (!(cond))                                                                      \
      ::vggtl::throw_check_failure(#cond, __FILE__, __LINE__,                         \
                                   ::vggtl::detail::concat(__VA_ARGS__));             \
  } while (0)

#define VGGTL_FAIL(...) \
  ::vggtl::throw_check_failure(nullptr, __FILE__, __LINE__, ::vggtl::detail::concat(__VA_ARGS__))
