// matmul on BLAS (OpenBLAS cblas_sgemm / cblas_dgemm), batched over a leading axis.
#include "tapeflow/autograd/detail/ops_util.hpp"
#include "tapeflow/core/detail/blas.hpp"

namespace tapeflow {
using detail::Array;

// y = op(a)·op(b). Backward (TF's MatMul gradient), with g = dy:
//   no flags: da = g·bᵀ, db = aᵀ·g;    transpose_a: da = b·gᵀ, db = a·g;
//   transpose_b: da = g·b, db = gᵀ·a;  both: da = bᵀ·gᵀ, db = gᵀ·aᵀ.
Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a, bool transpose_b) {
  detail::require_same_dtype("matmul", a, b);
  const Shape& as = a.shape();
  const Shape& bs = b.shape();
  if (as.size() != bs.size() || (as.size() != 2 && as.size() != 3) ||
      (as.size() == 3 && as[0] != bs[0])) {
    throw ShapeError(fmt::format(
        "matmul: expected two rank-2 tensors or two rank-3 tensors with equal batch size, got a {} "
        "and b {}",
        shape_str(as), shape_str(bs)));
  }
  const std::size_t r = as.size();
  const std::size_t batch = r == 3 ? as[0] : 1;
  const std::size_t m = transpose_a ? as[r - 1] : as[r - 2];
  const std::size_t ka = transpose_a ? as[r - 2] : as[r - 1];
  const std::size_t kb = transpose_b ? bs[r - 1] : bs[r - 2];
  const std::size_t n = transpose_b ? bs[r - 2] : bs[r - 1];
  if (ka != kb) {
    throw ShapeError(fmt::format("matmul: inner dimensions differ: a is {}{}, b is {}{}",
                                 shape_str(as), transpose_a ? " (transposed)" : "", shape_str(bs),
                                 transpose_b ? " (transposed)" : ""));
  }
  Shape out_shape = r == 3 ? Shape{batch, m, n} : Shape{m, n};
  Tensor out = detail::dispatch_float("matmul", a.dtype(), [&](auto t) {
    using T = decltype(t);
    auto c = Array<T>::from_shape(detail::xshape(out_shape));
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    for (std::size_t i = 0; i < batch; ++i) {
      if (ka == 0) {
        std::fill(c.data() + i * m * n, c.data() + (i + 1) * m * n, T(0));
      } else {
        detail::gemm(transpose_a, transpose_b, m, n, ka, pa + i * m * ka, pb + i * ka * n,
                     c.data() + i * m * n);
      }
    }
    return detail::make_tensor(std::move(c));
  });
  return detail::record(
      "matmul", std::move(out), {a, b}, [transpose_a, transpose_b](const BackwardArgs& s) {
        const Tensor& x = s.in[0];
        const Tensor& y = s.in[1];
        const Tensor& g = s.grad;
        std::vector<Gradient> grads(2);
        if (s.needed[0]) {  // a data batch needs no gradient: skip its product
          grads[0] =
              !transpose_a ? matmul(g, y, false, !transpose_b) : matmul(y, g, transpose_b, true);
        }
        if (s.needed[1]) {
          grads[1] =
              !transpose_b ? matmul(x, g, !transpose_a, false) : matmul(g, x, true, transpose_a);
        }
        return grads;
      });
}

}  // namespace tapeflow
