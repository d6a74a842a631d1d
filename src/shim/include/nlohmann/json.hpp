// Declaration-only stand-in for nlohmann/json.hpp, which ATen/functorch/Interpreter.h includes
// but the PyTorch wheel does not ship (pytorch/pytorch#181565). Interpreter.h uses JSON only to
// (de)serialise interpreters, which tchdist never does; this stand-in lets the header parse and
// throws if any of it were ever called. Nothing here is emitted unless used.
#pragma once

#include <initializer_list>
#include <stdexcept>
#include <string>

namespace nlohmann {

class json {
public:
  json() = default;
  template <typename T> json(const T &) { unsupported(); }
  json(std::initializer_list<json>) { unsupported(); }

  template <typename T> json &operator=(const T &) { unsupported(); }
  template <typename K> json &operator[](const K &) { unsupported(); }
  template <typename K> const json &operator[](const K &) const { unsupported(); }
  template <typename T> operator T() const { unsupported(); }
  template <typename T> T get() const { unsupported(); }
  template <typename T, typename K> T value(const K &, const T &) const { unsupported(); }
  template <typename K> bool contains(const K &) const { unsupported(); }
  bool is_null() const { unsupported(); }
  std::string dump() const { unsupported(); }
  static json parse(const std::string &) { unsupported(); }

private:
  [[noreturn]] static void unsupported() {
    throw std::logic_error(
        "tchdist: JSON (de)serialisation of functorch interpreters is not available");
  }
};

} // namespace nlohmann
