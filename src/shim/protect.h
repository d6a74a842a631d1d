// Exception barrier shared by every shim source: run a body, turn any C++ exception into a
// heap-allocated message (NULL on success), as tch's PROTECT does. c10 errors lose their C++
// backtrace on the way, as Python's bindings do by default.
#pragma once
#include <c10/util/Exception.h>

#include <cstdlib>
#include <cstring>
#include <exception>

namespace tchdist {

inline char *dup_message(const char *msg) {
  size_t len = std::strlen(msg);
  char *out = static_cast<char *>(std::malloc(len + 1));
  if (out != nullptr) {
    std::memcpy(out, msg, len + 1);
  }
  return out;
}

inline void free_message(char *msg) { std::free(msg); }

template <typename F> char *protect(F &&f) {
  try {
    f();
    return nullptr;
  } catch (const c10::Error &e) {
    return dup_message(e.what_without_backtrace());
  } catch (const std::exception &e) {
    return dup_message(e.what());
  } catch (...) {
    return dup_message("unknown C++ exception in tchdist shim");
  }
}

} // namespace tchdist
