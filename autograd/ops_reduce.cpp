// Reductions over axes, and argmax.
#include <cmath>

#include "tapeflow/autograd/detail/ops_util.hpp"

namespace tapeflow {
using detail::Array;
using detail::record;

namespace {
std::vector<long> as_long(const Shape& s) { return std::vector<long>(s.begin(), s.end()); }

// Runs reducer f over `axes` and returns the result with the reduced axes kept
// (size 1), which is the form every backward rule wants.
template <class F>
Tensor reduce_keep(const char* op, const Tensor& x, const std::vector<std::size_t>& axes, F&& f) {
  const Shape keep = detail::keepdims_shape(x.shape(), axes);
  return detail::dispatch_float(op, x.dtype(), [&](auto t) {
    using T = decltype(t);
    // Reducing over no axis is the identity for all four reductions.
    Array<T> r = axes.empty() ? Array<T>(detail::arr<T>(x)) : Array<T>(f(detail::arr<T>(x), axes));
    r.reshape(detail::xshape(keep));
    return detail::make_tensor(std::move(r));
  });
}

Tensor drop_axes(const Tensor& kept, const Shape& in, const std::vector<std::size_t>& axes,
                 bool keepdims) {
  if (keepdims) return kept;
  Shape out;
  for (std::size_t d = 0; d < in.size(); ++d) {
    if (std::find(axes.begin(), axes.end(), d) == axes.end()) out.push_back(in[d]);
  }
  return reshape(kept, as_long(out));
}

Tensor broadcast_to(const Tensor& g, const Shape& shape) {
  return detail::map1("broadcast_to", g,
                      [&](const auto& a) { return xt::broadcast(a, detail::xshape(shape)); });
}

// Records a reduction whose forward gave `kept` (keepdims form).
template <class Rule>
Tensor finish(const char* op, const Tensor& x, Tensor kept, const std::vector<std::size_t>& axes,
              bool keepdims, Rule rule) {
  // The recorded op maps x to the keepdims result; the final reshape records itself.
  Tensor k = record(op, std::move(kept), {x}, [axes, rule](const BackwardArgs& s) {
    return std::vector<Gradient>{rule(s.in[0], s.out, s.grad, axes)};
  });
  return drop_axes(k, x.shape(), axes, keepdims);
}
}  // namespace

// d sum = g broadcast back over the reduced axes.
Tensor reduce_sum(const Tensor& x, const Axes& axes, bool keepdims) {
  const auto ax = detail::normalize_axes("reduce_sum", axes, x.rank());
  Tensor kept = reduce_keep("reduce_sum", x, ax, [](const auto& a, const auto& axs) {
    return xt::eval(xt::sum(a, axs, xt::evaluation_strategy::immediate));
  });
  return finish("reduce_sum", x, std::move(kept), ax, keepdims,
                [](const Tensor& in, const Tensor&, const Tensor& g, const auto&) {
                  return broadcast_to(g, in.shape());
                });
}

// d mean = g / count, broadcast back.
Tensor reduce_mean(const Tensor& x, const Axes& axes, bool keepdims) {
  const auto ax = detail::normalize_axes("reduce_mean", axes, x.rank());
  std::size_t count = 1;
  for (auto a : ax) count *= x.shape()[a];
  Tensor kept = reduce_keep("reduce_mean", x, ax, [count](const auto& a, const auto& axs) {
    using T = typename std::decay_t<decltype(a)>::value_type;
    return xt::eval(xt::sum(a, axs, xt::evaluation_strategy::immediate) / static_cast<T>(count));
  });
  return finish("reduce_mean", x, std::move(kept), ax, keepdims,
                [count](const Tensor& in, const Tensor&, const Tensor& g, const auto&) {
                  return broadcast_to(g / static_cast<double>(count), in.shape());
                });
}

// d max = g shared equally among the elements equal to the maximum (TF).
Tensor reduce_max(const Tensor& x, const Axes& axes, bool keepdims) {
  const auto ax = detail::normalize_axes("reduce_max", axes, x.rank());
  if (x.size() == 0) {
    throw InvalidArgumentError(
        fmt::format("reduce_max: cannot reduce an empty tensor of shape {}", shape_str(x.shape())));
  }
  Tensor kept = reduce_keep("reduce_max", x, ax, [](const auto& a, const auto& axs) {
    return xt::eval(xt::amax(a, axs, xt::evaluation_strategy::immediate));
  });
  return finish("reduce_max", x, std::move(kept), ax, keepdims,
                [](const Tensor& in, const Tensor& out, const Tensor& g, const auto& axs) {
                  return detail::map3(
                      "reduce_max", in, out, g, [&](const auto& a, const auto& y, const auto& gg) {
                        using T = typename std::decay_t<decltype(a)>::value_type;
                        Array<T> mask = xt::where(xt::equal(a, y), T(1), T(0));
                        Array<T> count = xt::sum(mask, axs, xt::evaluation_strategy::immediate);
                        count.reshape(y.shape());
                        return xt::eval(mask * gg / count);
                      });
                });
}

// logsumexp with the maximum subtracted first (and ignored when it is not
// finite, as TF does); d = g * exp(x - y) = g * softmax over the reduced axes.
Tensor reduce_logsumexp(const Tensor& x, const Axes& axes, bool keepdims) {
  const auto ax = detail::normalize_axes("reduce_logsumexp", axes, x.rank());
  Tensor kept = reduce_keep("reduce_logsumexp", x, ax, [](const auto& a, const auto& axs) {
    using T = typename std::decay_t<decltype(a)>::value_type;
    Array<T> m = xt::amax(a, axs, xt::evaluation_strategy::immediate);
    auto keep = a.shape();
    for (auto d : axs) keep[d] = 1;
    m.reshape(keep);
    m = xt::where(xt::isfinite(m), m, T(0));
    Array<T> s = xt::sum(xt::exp(a - m), axs, xt::evaluation_strategy::immediate);
    s.reshape(keep);
    return xt::eval(xt::log(s) + m);
  });
  return finish("reduce_logsumexp", x, std::move(kept), ax, keepdims,
                [](const Tensor& in, const Tensor& out, const Tensor& g, const auto&) {
                  return detail::map3("reduce_logsumexp", in, out, g,
                                      [](const auto& a, const auto& y, const auto& gg) {
                                        return gg * xt::exp(a - y);
                                      });
                });
}

// A direct loop rather than xt::argmax, whose xsort.hpp draws a false
// -Warray-bounds from GCC 12. First index wins on ties, as in NumPy and TF.
Tensor argmax(const Tensor& x, int axis) {
  const auto ax = detail::normalize_axes("argmax", std::vector<int>{axis}, x.rank())[0];
  const Shape& s = x.shape();
  if (s[ax] == 0) throw InvalidArgumentError("argmax: cannot take the argmax over an empty axis");
  std::size_t outer = 1, inner = 1;
  for (std::size_t d = 0; d < ax; ++d) outer *= s[d];
  for (std::size_t d = ax + 1; d < s.size(); ++d) inner *= s[d];
  Shape out_shape = s;
  out_shape.erase(out_shape.begin() + static_cast<long>(ax));
  auto out = Array<std::int64_t>::from_shape(detail::xshape(out_shape));
  detail::dispatch_float("argmax", x.dtype(), [&](auto t) {
    using T = decltype(t);
    const T* p = x.data<T>();
    for (std::size_t o = 0; o < outer; ++o) {
      for (std::size_t i = 0; i < inner; ++i) {
        std::size_t best = 0;
        for (std::size_t k = 1; k < s[ax]; ++k) {
          if (p[(o * s[ax] + k) * inner + i] > p[(o * s[ax] + best) * inner + i]) best = k;
        }
        out.data()[o * inner + i] = static_cast<std::int64_t>(best);
      }
    }
  });
  return detail::make_tensor(std::move(out));
}

}  // namespace tapeflow
