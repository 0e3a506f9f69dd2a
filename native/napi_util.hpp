// N-API plumbing shared by the libtorch addons (retail_torch.cpp, retail_dist.cpp): arguments in,
// numbers and strings out, and C++ exceptions turned into JavaScript errors.
#pragma once
#include <node_api.h>

#include <exception>
#include <initializer_list>
#include <utility>
#include <stdexcept>
#include <string>
#include <vector>

namespace napi_util {

inline napi_value fail(napi_env env, const std::string& msg) {
  napi_throw_error(env, nullptr, msg.c_str());
  return nullptr;
}

// The first line of an ATen error (the rest is a C++ backtrace).
inline std::string first_line(const std::exception& e) {
  std::string s = e.what();
  auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

inline std::vector<napi_value> args(napi_env env, napi_callback_info info, size_t n) {
  std::vector<napi_value> v(n);
  size_t argc = n;
  napi_get_cb_info(env, info, &argc, v.data(), nullptr, nullptr);
  if (argc < n) throw std::runtime_error("expected " + std::to_string(n) + " arguments");
  return v;
}

// The data and length of a typed array of `type` (`what` names it in the error otherwise).
inline std::pair<void*, size_t> typed_array(napi_env env, napi_value v, napi_typedarray_type type, const char* what) {
  napi_typedarray_type actual;
  size_t len, off;
  void* data;
  napi_value ab;
  if (napi_get_typedarray_info(env, v, &actual, &len, &data, &ab, &off) != napi_ok || actual != type)
    throw std::runtime_error(std::string("expected a ") + what);
  return {data, len};
}

inline std::vector<double> f64s(napi_env env, napi_value v) {
  auto [data, len] = typed_array(env, v, napi_float64_array, "Float64Array");
  auto p = static_cast<double*>(data);
  return std::vector<double>(p, p + len);
}

// Exports `fns` as the module's functions.
inline void define_functions(napi_env env, napi_value exports, std::initializer_list<std::pair<const char*, napi_callback>> fns) {
  std::vector<napi_property_descriptor> props;
  for (auto& [name, fn] : fns) props.push_back({name, nullptr, fn, nullptr, nullptr, nullptr, napi_default, nullptr});
  napi_define_properties(env, exports, props.size(), props.data());
}

inline double number(napi_env env, napi_value v) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) throw std::runtime_error("expected a number");
  return d;
}

inline std::string text(napi_env env, napi_value v) {
  size_t len;
  napi_get_value_string_utf8(env, v, nullptr, 0, &len);
  std::string s(len, '\0');
  napi_get_value_string_utf8(env, v, &s[0], len + 1, &len);
  return s;
}

inline napi_value num(napi_env env, double d) {
  napi_value v;
  napi_create_double(env, d, &v);
  return v;
}

inline napi_value str(napi_env env, const std::string& s) {
  napi_value v;
  napi_create_string_utf8(env, s.c_str(), s.size(), &v);
  return v;
}

}  // namespace napi_util

// The body of an exported function: a C++ or ATen error becomes a JavaScript Error with its first
// line (the rest is a C++ backtrace).
#define GUARD(...)                                     \
  try {                                                \
    __VA_ARGS__                                        \
  } catch (const c10::Error& e) {                      \
    return napi_util::fail(env, napi_util::first_line(e)); \
  } catch (const std::exception& e) {                  \
    return napi_util::fail(env, napi_util::first_line(e)); \
  }
