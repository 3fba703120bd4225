// Private: helpers for the fused per-variable update loops.
#pragma once
#include <cmath>
#include <cstddef>
#include <limits>

#include "tapeflow/autograd/variable.hpp"
#include "tapeflow/core/detail/parallel.hpp"
#include "tapeflow/core/detail/tensor_impl.hpp"

namespace tapeflow::detail {

/// Updates of fewer elements run on one thread (core/detail/parallel.hpp).
constexpr std::size_t kParallelThreshold = kParallelMinElements;

/// Calls f(T{}) for the variable's float dtype.
template <class F>
void for_var_dtype(const char* op, const Variable& v, F&& f) {
  dispatch_float(op, v.dtype(), std::forward<F>(f));
}

/// Elements per row of a [R, d...] variable.
inline std::size_t row_size(const Variable& v) {
  return v.shape().empty() || v.shape()[0] == 0 ? 0 : shape_size(v.shape()) / v.shape()[0];
}

/// For each row of a (merged) IndexedSlices: f(offset of the row in the
/// variable's storage, pointer to the gradient row, elements per row). Sparse
/// updates run their dense kernel on these rows, so other rows never change.
template <class T, class F>
void for_each_row(const IndexedSlices& grad, const Variable& var, F&& f) {
  const std::size_t row = row_size(var);
  const T* values = grad.values.data<T>();
  const auto* idx = grad.indices.data<std::int64_t>();
  for (std::size_t k = 0; k < grad.indices.size(); ++k) {
    f(static_cast<std::size_t>(idx[k]) * row, values + k * row, row);
  }
}

/// @throws InvalidArgumentError "<op>: <field> must be <range_text>, got x"
/// unless x is finite and lo <= x <= hi.
inline void check_range(const char* op, const char* field, double x, double lo, double hi,
                        const char* range_text) {
  if (!(std::isfinite(x) && x >= lo && x <= hi)) {
    throw InvalidArgumentError(fmt::format("{}: {} must be {}, got {}", op, field, range_text, x));
  }
}

}  // namespace tapeflow::detail
