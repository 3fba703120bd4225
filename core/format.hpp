// fmt support for tensors: `fmt::format("{}", t)` prints like NumPy (values,
// shape, dtype). Separate from tensor.hpp so that programs which do not print
// with fmt do not parse it.
#pragma once
#include <fmt/format.h>

#include <string>

#include "tapeflow/core/tensor.hpp"

template <>
struct fmt::formatter<tapeflow::Tensor> : fmt::formatter<std::string> {
  template <class Ctx>
  auto format(const tapeflow::Tensor& t, Ctx& ctx) const {
    return fmt::formatter<std::string>::format(t.str(), ctx);
  }
};
template <>
struct fmt::formatter<tapeflow::DType> : fmt::formatter<const char*> {
  template <class Ctx>
  auto format(tapeflow::DType d, Ctx& ctx) const {
    return fmt::formatter<const char*>::format(tapeflow::dtype_name(d), ctx);
  }
};
