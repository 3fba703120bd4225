// Private helpers shared by the op files: dtype checks, axis normalisation,
// undoing broadcasting, and kernels that map xtensor expressions over tensors.
#pragma once
#include <string>
#include <vector>

#include "tapeflow/autograd/ops.hpp"
#include "tapeflow/autograd/tape.hpp"
#include "tapeflow/core/detail/tensor_impl.hpp"

namespace tapeflow::detail {

void require_same_dtype(const char* op, const Tensor& x, const Tensor& y);
void require_float(const char* op, const Tensor& x);

/// Sorted, non-negative axes. @throws InvalidArgumentError ("out of range", "duplicate").
std::vector<std::size_t> normalize_axes(const char* op, const Axes& axes, std::size_t rank);
/// The shape with reduced axes kept as size 1.
Shape keepdims_shape(const Shape& shape, const std::vector<std::size_t>& axes);

/// Sums `g` down to `shape` (the shape of an operand that was broadcast):
/// over added leading axes and over axes where `shape` has size 1 (docs/semantics.md §1.4).
Tensor unbroadcast(const Tensor& g, const Shape& shape);

/// out = f(x) elementwise, in x's float dtype.
template <class F>
Tensor map1(const char* op, const Tensor& x, F&& f) {
  return dispatch_float(op, x.dtype(), [&](auto t) {
    using T = decltype(t);
    return make_tensor(Array<T>(f(arr<T>(x))));
  });
}

/// out = f(x, y), broadcasting; x and y must share a float dtype.
template <class F>
Tensor map2(const char* op, const Tensor& x, const Tensor& y, F&& f) {
  require_same_dtype(op, x, y);
  if (x.shape() != y.shape()) broadcast_shapes(op, x.shape(), y.shape());
  return dispatch_float(op, x.dtype(), [&](auto t) {
    using T = decltype(t);
    return make_tensor(Array<T>(f(arr<T>(x), arr<T>(y))));
  });
}

template <class F>
Tensor map3(const char* op, const Tensor& x, const Tensor& y, const Tensor& z, F&& f) {
  require_same_dtype(op, x, y);
  require_same_dtype(op, x, z);
  return dispatch_float(op, x.dtype(), [&](auto t) {
    using T = decltype(t);
    return make_tensor(Array<T>(f(arr<T>(x), arr<T>(y), arr<T>(z))));
  });
}

inline Tensor record(const char* op, Tensor out, std::vector<Tensor> inputs, BackwardFn fn) {
  return GradientTape::record(op, std::move(out), std::move(inputs), std::move(fn));
}

}  // namespace tapeflow::detail
