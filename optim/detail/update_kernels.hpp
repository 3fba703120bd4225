// Private: helpers for the fused per-variable update loops.
#pragma once
#include <cstddef>

#include "tapeflow/autograd/variable.hpp"
#include "tapeflow/core/detail/tensor_impl.hpp"

namespace tapeflow::detail {

/// Two threads pay off only past ~64K elements; below that the loop runs serially.
constexpr std::size_t kParallelThreshold = 1u << 16;

/// Calls f(T{}) for the variable's float dtype.
template <class F>
void for_var_dtype(const char* op, const Variable& v, F&& f) {
  dispatch_float(op, v.dtype(), std::forward<F>(f));
}

/// Elements per row of a [R, d...] variable.
inline std::size_t row_size(const Variable& v) {
  return v.shape().empty() || v.shape()[0] == 0 ? 0 : shape_size(v.shape()) / v.shape()[0];
}

}  // namespace tapeflow::detail
