// Elementwise ops and their backward rules (docs/semantics.md §1.5). Binary ops
// broadcast; each gradient is summed back to its input's shape by unbroadcast.
#include <cmath>

#include "tapeflow/autograd/detail/ops_util.hpp"

namespace tapeflow {
using detail::map1;
using detail::map2;
using detail::map3;
using detail::record;
using detail::unbroadcast;

Tensor scalar_like(double value, const Tensor& like) { return full({}, value, like.dtype()); }

// d(x+y) = g, g.
Tensor add(const Tensor& x, const Tensor& y) {
  Tensor out = map2("add", x, y, [](const auto& a, const auto& b) { return a + b; });
  return record("add", std::move(out), {x, y}, [](const BackwardArgs& s) {
    return std::vector<Gradient>{unbroadcast(s.grad, s.in[0].shape()),
                                 unbroadcast(s.grad, s.in[1].shape())};
  });
}

// d(x-y) = g, -g.
Tensor sub(const Tensor& x, const Tensor& y) {
  Tensor out = map2("sub", x, y, [](const auto& a, const auto& b) { return a - b; });
  return record("sub", std::move(out), {x, y}, [](const BackwardArgs& s) {
    return std::vector<Gradient>{unbroadcast(s.grad, s.in[0].shape()),
                                 unbroadcast(neg(s.grad), s.in[1].shape())};
  });
}

// d(x*y) = g*y, g*x.
Tensor mul(const Tensor& x, const Tensor& y) {
  Tensor out = map2("mul", x, y, [](const auto& a, const auto& b) { return a * b; });
  return record("mul", std::move(out), {x, y}, [](const BackwardArgs& s) {
    return std::vector<Gradient>{unbroadcast(mul(s.grad, s.in[1]), s.in[0].shape()),
                                 unbroadcast(mul(s.grad, s.in[0]), s.in[1].shape())};
  });
}

// d(x/y) = g/y, ((-x/y)/y)*g (TF's RealDiv gradient, in that order of operations).
Tensor div(const Tensor& x, const Tensor& y) {
  Tensor out = map2("div", x, y, [](const auto& a, const auto& b) { return a / b; });
  return record("div", std::move(out), {x, y}, [](const BackwardArgs& s) {
    const Tensor& a = s.in[0];
    const Tensor& b = s.in[1];
    Tensor gy = map3("div", a, b, s.grad, [](const auto& p, const auto& q, const auto& g) {
      return ((-p / q) / q) * g;
    });
    return std::vector<Gradient>{unbroadcast(div(s.grad, b), a.shape()),
                                 unbroadcast(gy, b.shape())};
  });
}

// d(x^y) = g*y*x^(y-1); for y: g*x^y*log(x) where x > 0, else 0 (TF's Pow gradient).
Tensor pow(const Tensor& x, const Tensor& y) {
  Tensor out = map2("pow", x, y, [](const auto& a, const auto& b) { return xt::pow(a, b); });
  return record("pow", std::move(out), {x, y}, [](const BackwardArgs& s) {
    const Tensor& a = s.in[0];
    const Tensor& b = s.in[1];
    Tensor gx = map3("pow", a, b, s.grad, [](const auto& p, const auto& q, const auto& g) {
      using T = typename std::decay_t<decltype(p)>::value_type;
      return g * q * xt::pow(p, q - T(1));
    });
    Tensor gy = map3("pow", a, s.out, s.grad, [](const auto& p, const auto& o, const auto& g) {
      using T = typename std::decay_t<decltype(p)>::value_type;
      return xt::where(p > T(0), g * o * xt::log(xt::where(p > T(0), p, T(1))), T(0));
    });
    return std::vector<Gradient>{unbroadcast(gx, a.shape()), unbroadcast(gy, b.shape())};
  });
}

// All of g goes to x where x >= y (a tie goes to the first input, as in TF).
Tensor maximum(const Tensor& x, const Tensor& y) {
  Tensor out =
      map2("maximum", x, y, [](const auto& a, const auto& b) { return xt::maximum(a, b); });
  return record("maximum", std::move(out), {x, y}, [](const BackwardArgs& s) {
    const Tensor& a = s.in[0];
    const Tensor& b = s.in[1];
    Tensor gx = map3("maximum", a, b, s.grad, [](const auto& p, const auto& q, const auto& g) {
      return xt::where(p >= q, g, typename std::decay_t<decltype(g)>::value_type(0));
    });
    Tensor gy = map3("maximum", a, b, s.grad, [](const auto& p, const auto& q, const auto& g) {
      return xt::where(p >= q, typename std::decay_t<decltype(g)>::value_type(0), g);
    });
    return std::vector<Gradient>{unbroadcast(gx, a.shape()), unbroadcast(gy, b.shape())};
  });
}

// All of g goes to x where x <= y.
Tensor minimum(const Tensor& x, const Tensor& y) {
  Tensor out =
      map2("minimum", x, y, [](const auto& a, const auto& b) { return xt::minimum(a, b); });
  return record("minimum", std::move(out), {x, y}, [](const BackwardArgs& s) {
    const Tensor& a = s.in[0];
    const Tensor& b = s.in[1];
    Tensor gx = map3("minimum", a, b, s.grad, [](const auto& p, const auto& q, const auto& g) {
      return xt::where(p <= q, g, typename std::decay_t<decltype(g)>::value_type(0));
    });
    Tensor gy = map3("minimum", a, b, s.grad, [](const auto& p, const auto& q, const auto& g) {
      return xt::where(p <= q, typename std::decay_t<decltype(g)>::value_type(0), g);
    });
    return std::vector<Gradient>{unbroadcast(gx, a.shape()), unbroadcast(gy, b.shape())};
  });
}

Tensor neg(const Tensor& x) {
  Tensor out = map1("neg", x, [](const auto& a) { return -a; });
  return record("neg", std::move(out), {x},
                [](const BackwardArgs& s) { return std::vector<Gradient>{neg(s.grad)}; });
}

// d(x^2) = 2*x*g.
Tensor square(const Tensor& x) {
  Tensor out = map1("square", x, [](const auto& a) { return a * a; });
  return record("square", std::move(out), {x}, [](const BackwardArgs& s) {
    return std::vector<Gradient>{map2("square", s.grad, s.in[0], [](const auto& g, const auto& a) {
      using T = typename std::decay_t<decltype(a)>::value_type;
      return T(2) * a * g;
    })};
  });
}

// d sqrt(x) = g / (2*y).
Tensor sqrt(const Tensor& x) {
  Tensor out = map1("sqrt", x, [](const auto& a) { return xt::sqrt(a); });
  return record("sqrt", std::move(out), {x}, [](const BackwardArgs& s) {
    return std::vector<Gradient>{map2("sqrt", s.grad, s.out, [](const auto& g, const auto& y) {
      using T = typename std::decay_t<decltype(y)>::value_type;
      return g / (T(2) * y);
    })};
  });
}

// d exp(x) = g*y.
Tensor exp(const Tensor& x) {
  Tensor out = map1("exp", x, [](const auto& a) { return xt::exp(a); });
  return record("exp", std::move(out), {x},
                [](const BackwardArgs& s) { return std::vector<Gradient>{mul(s.grad, s.out)}; });
}

// d log(x) = g/x.
Tensor log(const Tensor& x) {
  Tensor out = map1("log", x, [](const auto& a) { return xt::log(a); });
  return record("log", std::move(out), {x},
                [](const BackwardArgs& s) { return std::vector<Gradient>{div(s.grad, s.in[0])}; });
}

// d|x| = g*sign(x), 0 at x = 0.
Tensor abs(const Tensor& x) {
  Tensor out = map1("abs", x, [](const auto& a) { return xt::abs(a); });
  return record("abs", std::move(out), {x}, [](const BackwardArgs& s) {
    return std::vector<Gradient>{
        map2("abs", s.grad, s.in[0], [](const auto& g, const auto& a) { return g * xt::sign(a); })};
  });
}

// d tanh(x) = g*(1-y^2).
Tensor tanh(const Tensor& x) {
  Tensor out = map1("tanh", x, [](const auto& a) { return xt::tanh(a); });
  return record("tanh", std::move(out), {x}, [](const BackwardArgs& s) {
    return std::vector<Gradient>{map2("tanh", s.grad, s.out, [](const auto& g, const auto& y) {
      using T = typename std::decay_t<decltype(y)>::value_type;
      return g * (T(1) - y * y);
    })};
  });
}

// d sigmoid(x) = g*y*(1-y).
Tensor sigmoid(const Tensor& x) {
  Tensor out = map1("sigmoid", x, [](const auto& a) {
    using T = typename std::decay_t<decltype(a)>::value_type;
    return T(1) / (T(1) + xt::exp(-a));
  });
  return record("sigmoid", std::move(out), {x}, [](const BackwardArgs& s) {
    return std::vector<Gradient>{map2("sigmoid", s.grad, s.out, [](const auto& g, const auto& y) {
      using T = typename std::decay_t<decltype(y)>::value_type;
      return g * y * (T(1) - y);
    })};
  });
}

// d relu(x) = g where x > 0, else 0 (0 at x = 0, as TF).
Tensor relu(const Tensor& x) {
  Tensor out = map1("relu", x, [](const auto& a) {
    using T = typename std::decay_t<decltype(a)>::value_type;
    return xt::maximum(a, T(0));
  });
  return record("relu", std::move(out), {x}, [](const BackwardArgs& s) {
    return std::vector<Gradient>{map2("relu", s.grad, s.in[0], [](const auto& g, const auto& a) {
      using T = typename std::decay_t<decltype(a)>::value_type;
      return xt::where(a > T(0), g, T(0));
    })};
  });
}

// softplus(x) = log(1+e^x), computed as max(x,0) + log1p(e^-|x|) so large |x|
// neither overflows nor loses the small term; d softplus = g*sigmoid(x).
Tensor softplus(const Tensor& x) {
  Tensor out = map1("softplus", x, [](const auto& a) {
    using T = typename std::decay_t<decltype(a)>::value_type;
    return xt::maximum(a, T(0)) + xt::log1p(xt::exp(-xt::abs(a)));
  });
  return record("softplus", std::move(out), {x}, [](const BackwardArgs& s) {
    return std::vector<Gradient>{
        map2("softplus", s.grad, s.in[0], [](const auto& g, const auto& a) {
          using T = typename std::decay_t<decltype(a)>::value_type;
          return g / (T(1) + xt::exp(-a));
        })};
  });
}

Tensor stop_gradient(const Tensor& x) {
  // A new tensor (new id) with the same values, never recorded.
  return detail::dispatch_any(x.dtype(), [&](auto t) {
    using T = decltype(t);
    return detail::make_tensor(detail::Array<T>(detail::arr<T>(x)));
  });
}

namespace {
// Throws NonFiniteError if `x` holds an inf or NaN: the first one's flat and
// multi-dimensional index and its value.
void require_finite(const Tensor& x, const std::string& message) {
  detail::dispatch_float("check_numerics", x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = x.data<T>();
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (std::isfinite(p[i])) continue;
      std::vector<std::size_t> index(x.rank());
      std::size_t rest = i;
      for (std::size_t d = x.rank(); d-- > 0;) {
        index[d] = rest % x.shape()[d];
        rest /= x.shape()[d];
      }
      throw NonFiniteError(fmt::format(
          "check_numerics: {}: tensor of shape {} has {} at index [{}] (element {})", message,
          shape_str(x.shape()), static_cast<double>(p[i]), fmt::join(index, ", "), i));
    }
  });
}
}  // namespace

Tensor check_numerics(const Tensor& x, const std::string& message) {
  require_finite(x, message);
  return record("check_numerics", stop_gradient(x), {x}, [message](const BackwardArgs& s) {
    require_finite(s.grad, message + " (gradient)");
    return std::vector<Gradient>{s.grad};
  });
}

Tensor cast(const Tensor& x, DType dtype) {
  if (x.dtype() == dtype) return x;
  Tensor out = convert(x, dtype);
  if (!is_floating(dtype) || !is_floating(x.dtype())) return out;  // no path through integers
  return record("cast", std::move(out), {x}, [](const BackwardArgs& s) {
    return std::vector<Gradient>{convert(s.grad, s.in[0].dtype())};
  });
}

Tensor operator+(const Tensor& x, const Tensor& y) { return add(x, y); }
Tensor operator-(const Tensor& x, const Tensor& y) { return sub(x, y); }
Tensor operator*(const Tensor& x, const Tensor& y) { return mul(x, y); }
Tensor operator/(const Tensor& x, const Tensor& y) { return div(x, y); }
Tensor operator-(const Tensor& x) { return neg(x); }
Tensor operator+(const Tensor& x, double y) { return add(x, scalar_like(y, x)); }
Tensor operator-(const Tensor& x, double y) { return sub(x, scalar_like(y, x)); }
Tensor operator*(const Tensor& x, double y) { return mul(x, scalar_like(y, x)); }
Tensor operator/(const Tensor& x, double y) { return div(x, scalar_like(y, x)); }
Tensor operator+(double x, const Tensor& y) { return add(scalar_like(x, y), y); }
Tensor operator-(double x, const Tensor& y) { return sub(scalar_like(x, y), y); }
Tensor operator*(double x, const Tensor& y) { return mul(scalar_like(x, y), y); }
Tensor operator/(double x, const Tensor& y) { return div(scalar_like(x, y), y); }

}  // namespace tapeflow
