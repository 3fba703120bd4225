// Helpers shared by the op files (see detail/ops_util.hpp).
#include "tapeflow/autograd/detail/ops_util.hpp"

#include <algorithm>

namespace tapeflow::detail {

void require_same_dtype(const char* op, const Tensor& x, const Tensor& y) {
  if (x.dtype() != y.dtype()) {
    throw DTypeError(fmt::format("{}: operands must have the same dtype, got {} and {}", op,
                                 dtype_name(x.dtype()), dtype_name(y.dtype())));
  }
}

void require_float(const char* op, const Tensor& x) {
  if (!is_floating(x.dtype())) {
    throw DTypeError(
        fmt::format("{}: expected a float32 or float64 tensor, got {}", op, dtype_name(x.dtype())));
  }
}

std::vector<std::size_t> normalize_axes(const char* op, const Axes& axes, std::size_t rank) {
  std::vector<std::size_t> out;
  if (!axes) {
    for (std::size_t i = 0; i < rank; ++i) out.push_back(i);
    return out;
  }
  const long r = static_cast<long>(rank);
  for (int a : *axes) {
    if (a < -r || a >= r) {
      throw InvalidArgumentError(
          fmt::format("{}: axis {} is out of range for a tensor of rank {} (expected [{}, {}))", op,
                      a, rank, -r, r));
    }
    const std::size_t n = static_cast<std::size_t>(a < 0 ? a + r : a);
    if (std::find(out.begin(), out.end(), n) != out.end()) {
      throw InvalidArgumentError(fmt::format("{}: axes [{}] contain the duplicate dimension {}", op,
                                             fmt::join(*axes, ", "), n));
    }
    out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Shape keepdims_shape(const Shape& shape, const std::vector<std::size_t>& axes) {
  Shape out = shape;
  for (std::size_t a : axes) out[a] = 1;
  return out;
}

Tensor unbroadcast(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  const std::size_t lead = g.rank() - shape.size();
  std::vector<int> axes;
  for (std::size_t i = 0; i < g.rank(); ++i) {
    if (i < lead || (shape[i - lead] == 1 && g.shape()[i] != 1))
      axes.push_back(static_cast<int>(i));
  }
  Tensor summed = reduce_sum(g, axes, /*keepdims=*/true);
  std::vector<long> target(shape.begin(), shape.end());
  return reshape(summed, target);
}

}  // namespace tapeflow::detail
