// Shape ops: transpose, reshape, concat, slice, gather.
#include <algorithm>
#include <numeric>

#include "tapeflow/autograd/detail/ops_util.hpp"

namespace tapeflow {
using detail::Array;
using detail::record;

namespace {
std::vector<std::size_t> full_perm(const char* op, const std::vector<int>& perm, std::size_t rank) {
  std::vector<std::size_t> p(rank);
  if (perm.empty()) {
    for (std::size_t i = 0; i < rank; ++i) p[i] = rank - 1 - i;
    return p;
  }
  if (perm.size() != rank) {
    throw InvalidArgumentError(fmt::format("{}: perm [{}] has {} entries for a tensor of rank {}",
                                           op, fmt::join(perm, ", "), perm.size(), rank));
  }
  std::vector<bool> seen(rank, false);
  for (std::size_t i = 0; i < rank; ++i) {
    const long a = perm[i] < 0 ? perm[i] + static_cast<long>(rank) : perm[i];
    if (a < 0 || a >= static_cast<long>(rank) || seen[a]) {
      throw InvalidArgumentError(fmt::format("{}: perm [{}] is not a permutation of 0..{}", op,
                                             fmt::join(perm, ", "), rank - 1));
    }
    seen[a] = true;
    p[i] = static_cast<std::size_t>(a);
  }
  return p;
}
}  // namespace

Tensor transpose(const Tensor& x, const std::vector<int>& perm) {
  const auto p = full_perm("transpose", perm, x.rank());
  Tensor out = detail::dispatch_any(x.dtype(), [&](auto t) {
    using T = decltype(t);
    return detail::make_tensor(Array<T>(xt::transpose(detail::arr<T>(x), p)));
  });
  if (!is_floating(x.dtype())) return out;
  std::vector<int> inverse(p.size());
  for (std::size_t i = 0; i < p.size(); ++i) inverse[p[i]] = static_cast<int>(i);
  return record("transpose", std::move(out), {x}, [inverse](const BackwardArgs& s) {
    return std::vector<Gradient>{transpose(s.grad, inverse)};
  });
}

Tensor reshape(const Tensor& x, const std::vector<long>& shape) {
  Shape target(shape.size());
  long infer = -1;
  std::size_t known = 1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1 && infer < 0) {
      infer = static_cast<long>(i);
    } else if (shape[i] < 0) {
      throw InvalidArgumentError(fmt::format(
          "reshape: shape [{}] may hold one -1 and otherwise sizes >= 0", fmt::join(shape, ", ")));
    } else {
      target[i] = static_cast<std::size_t>(shape[i]);
      known *= target[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || x.size() % known != 0) {
      throw ShapeError(
          fmt::format("reshape: cannot reshape a tensor of shape {} ({} elements) into [{}]",
                      shape_str(x.shape()), x.size(), fmt::join(shape, ", ")));
    }
    target[infer] = x.size() / known;
  } else if (known != x.size()) {
    throw ShapeError(
        fmt::format("reshape: cannot reshape a tensor of shape {} ({} elements) into [{}]",
                    shape_str(x.shape()), x.size(), fmt::join(shape, ", ")));
  }
  if (target == x.shape()) return x;
  Tensor out = detail::dispatch_any(x.dtype(), [&](auto t) {
    using T = decltype(t);
    Array<T> a = detail::arr<T>(x);
    a.reshape(detail::xshape(target));
    return detail::make_tensor(std::move(a));
  });
  if (!is_floating(x.dtype())) return out;
  return record("reshape", std::move(out), {x}, [](const BackwardArgs& s) {
    const Shape& in = s.in[0].shape();
    return std::vector<Gradient>{reshape(s.grad, std::vector<long>(in.begin(), in.end()))};
  });
}

Tensor concat(const std::vector<Tensor>& xs, int axis) {
  if (xs.empty()) throw InvalidArgumentError("concat: expected at least one tensor, got none");
  const Shape& first = xs[0].shape();
  const long r = static_cast<long>(first.size());
  if (axis < -r || axis >= r) {
    throw InvalidArgumentError(
        fmt::format("concat: axis {} is out of range for tensors of rank {}", axis, r));
  }
  const std::size_t ax = static_cast<std::size_t>(axis < 0 ? axis + r : axis);
  Shape out_shape = first;
  out_shape[ax] = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const Shape& s = xs[i].shape();
    bool ok = s.size() == first.size() && xs[i].dtype() == xs[0].dtype();
    for (std::size_t d = 0; ok && d < s.size(); ++d) ok = d == ax || s[d] == first[d];
    if (!ok) {
      throw ShapeError(fmt::format(
          "concat: input {} is {} {}, input 0 is {} {}; all must agree except on axis {}", i,
          dtype_name(xs[i].dtype()), shape_str(s), dtype_name(xs[0].dtype()), shape_str(first),
          ax));
    }
    out_shape[ax] += s[ax];
  }
  std::size_t outer = 1, inner = 1;
  for (std::size_t d = 0; d < ax; ++d) outer *= first[d];
  for (std::size_t d = ax + 1; d < first.size(); ++d) inner *= first[d];
  // A plain strided copy: each input contributes one contiguous chunk per outer index.
  Tensor out = detail::dispatch_any(xs[0].dtype(), [&](auto t) {
    using T = decltype(t);
    auto a = Array<T>::from_shape(detail::xshape(out_shape));
    const std::size_t out_row = out_shape[ax] * inner;
    std::size_t offset = 0;
    for (const Tensor& x : xs) {
      const std::size_t chunk = x.shape()[ax] * inner;
      const T* src = x.data<T>();
      for (std::size_t o = 0; o < outer; ++o) {
        std::copy_n(src + o * chunk, chunk, a.data() + o * out_row + offset);
      }
      offset += chunk;
    }
    return detail::make_tensor(std::move(a));
  });
  if (!is_floating(xs[0].dtype())) return out;
  return record("concat", std::move(out), xs, [ax](const BackwardArgs& s) {
    std::vector<Gradient> grads;
    std::vector<long> begin(s.grad.rank(), 0);
    std::vector<long> size(s.grad.rank(), -1);
    for (const Tensor& x : s.in) {
      size[ax] = static_cast<long>(x.shape()[ax]);
      grads.emplace_back(slice(s.grad, begin, size));
      begin[ax] += size[ax];
    }
    return grads;
  });
}

Tensor slice(const Tensor& x, const std::vector<long>& begin, const std::vector<long>& size) {
  if (begin.size() != x.rank() || size.size() != x.rank()) {
    throw InvalidArgumentError(fmt::format(
        "slice: begin [{}] and size [{}] must each have one entry per axis of a tensor of shape {}",
        fmt::join(begin, ", "), fmt::join(size, ", "), shape_str(x.shape())));
  }
  xt::xstrided_slice_vector sv;
  Shape out_shape(x.rank());
  for (std::size_t d = 0; d < x.rank(); ++d) {
    const long dim = static_cast<long>(x.shape()[d]);
    const long n = size[d] == -1 ? dim - begin[d] : size[d];
    if (begin[d] < 0 || n < 0 || begin[d] + n > dim) {
      throw InvalidArgumentError(
          fmt::format("slice: begin [{}] with size [{}] is out of range for shape {}",
                      fmt::join(begin, ", "), fmt::join(size, ", "), shape_str(x.shape())));
    }
    sv.push_back(xt::range(begin[d], begin[d] + n));
    out_shape[d] = static_cast<std::size_t>(n);
  }
  Tensor out = detail::dispatch_any(x.dtype(), [&](auto t) {
    using T = decltype(t);
    return detail::make_tensor(Array<T>(xt::strided_view(detail::arr<T>(x), sv)));
  });
  if (!is_floating(x.dtype())) return out;
  // Backward: the gradient scattered into zeros of the input's shape.
  return record("slice", std::move(out), {x}, [sv](const BackwardArgs& s) {
    return std::vector<Gradient>{detail::dispatch_float("slice", s.grad.dtype(), [&](auto t) {
      using T = decltype(t);
      auto g = xt::zeros<T>(detail::xshape(s.in[0].shape()));
      Array<T> a = g;
      xt::strided_view(a, sv) = detail::arr<T>(s.grad);
      return detail::make_tensor(std::move(a));
    })};
  });
}

Tensor gather(const Tensor& params, const Tensor& indices) {
  if (indices.dtype() != DType::int64) {
    throw DTypeError(
        fmt::format("gather: indices must be int64, got {}", dtype_name(indices.dtype())));
  }
  if (params.rank() == 0) throw ShapeError("gather: params must have rank >= 1, got a scalar");
  const std::size_t rows = params.shape()[0];
  const auto* idx = indices.data<std::int64_t>();
  for (std::size_t k = 0; k < indices.size(); ++k) {
    if (idx[k] < 0 || static_cast<std::size_t>(idx[k]) >= rows) {
      throw InvalidArgumentError(fmt::format(
          "gather: index {} at position {} is out of range [0, {}) for params of shape {}", idx[k],
          k, rows, shape_str(params.shape())));
    }
  }
  Shape out_shape = indices.shape();
  out_shape.insert(out_shape.end(), params.shape().begin() + 1, params.shape().end());
  const std::size_t row = rows ? params.size() / rows : 0;
  Tensor out = detail::dispatch_any(params.dtype(), [&](auto t) {
    using T = decltype(t);
    auto a = Array<T>::from_shape(detail::xshape(out_shape));
    const T* src = params.data<T>();
    for (std::size_t k = 0; k < indices.size(); ++k) {
      std::copy_n(src + idx[k] * row, row, a.data() + k * row);
    }
    return detail::make_tensor(std::move(a));
  });
  if (!is_floating(params.dtype())) return out;
  // Backward: IndexedSlices (values = g as rows, indices = flattened indices, duplicates kept).
  return record("gather", std::move(out), {params, indices}, [](const BackwardArgs& s) {
    const Shape& ps = s.in[0].shape();
    std::vector<long> vshape{static_cast<long>(s.in[1].size())};
    vshape.insert(vshape.end(), ps.begin() + 1, ps.end());
    IndexedSlices slices{reshape(s.grad, vshape),
                         reshape(s.in[1], {static_cast<long>(s.in[1].size())}), ps};
    return std::vector<Gradient>{std::move(slices), Gradient()};
  });
}

}  // namespace tapeflow
