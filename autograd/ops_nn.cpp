// Softmax, log-softmax and the fused cross-entropy losses, over the last axis.
// Every kernel views the input as [rows, classes] and subtracts the row maximum
// before exponentiating, so logits near 1000 stay finite.
#include <cmath>

#include "tapeflow/autograd/detail/ops_util.hpp"

namespace tapeflow {
using detail::Array;
using detail::record;

namespace {
struct Rows {
  std::size_t rows, classes;
};
Rows rows_of(const char* op, const Tensor& logits) {
  if (logits.rank() == 0) {
    throw ShapeError(
        fmt::format("{}: logits must have rank >= 1 (classes on the last axis), got a scalar", op));
  }
  const std::size_t c = logits.shape().back();
  return {c ? logits.size() / c : 0, c};
}

// Writes log(sum(exp(x - max))) + max of each row into lse, and the softmax into sm (if given).
template <class T>
void row_softmax(const T* x, Rows r, T* sm, T* lse) {
  for (std::size_t i = 0; i < r.rows; ++i) {
    const T* row = x + i * r.classes;
    T m = -std::numeric_limits<T>::infinity();
    for (std::size_t j = 0; j < r.classes; ++j) m = std::max(m, row[j]);
    if (!std::isfinite(m)) m = T(0);
    T sum = 0;
    for (std::size_t j = 0; j < r.classes; ++j) sum += std::exp(row[j] - m);
    const T l = std::log(sum) + m;
    if (lse) lse[i] = l;
    if (sm) {
      for (std::size_t j = 0; j < r.classes; ++j) sm[i * r.classes + j] = std::exp(row[j] - l);
    }
  }
}

template <class T>
Array<T> softmax_array(const Tensor& logits) {
  auto sm = Array<T>::from_shape(detail::xshape(logits.shape()));
  row_softmax<T>(logits.data<T>(), rows_of("softmax", logits), sm.data(), nullptr);
  return sm;
}

Shape batch_shape(const Tensor& logits) {
  return Shape(logits.shape().begin(), logits.shape().end() - 1);
}
}  // namespace

// d softmax = (g - sum(g*y)) * y.
Tensor softmax(const Tensor& logits) {
  Tensor out = detail::dispatch_float("softmax", logits.dtype(), [&](auto t) {
    return detail::make_tensor(softmax_array<decltype(t)>(logits));
  });
  return record("softmax", std::move(out), {logits}, [](const BackwardArgs& s) {
    return std::vector<Gradient>{
        detail::map2("softmax", s.grad, s.out, [](const auto& g, const auto& y) {
          const std::size_t last = y.dimension() - 1;
          auto dot =
              xt::eval(xt::sum(g * y, {last}, xt::keep_dims | xt::evaluation_strategy::immediate));
          return xt::eval((g - dot) * y);
        })};
  });
}

// log_softmax = x - logsumexp(x); d = g - softmax * sum(g).
Tensor log_softmax(const Tensor& logits) {
  Tensor out = detail::dispatch_float("log_softmax", logits.dtype(), [&](auto t) {
    using T = decltype(t);
    const Rows r = rows_of("log_softmax", logits);
    std::vector<T> lse(r.rows);
    row_softmax<T>(logits.data<T>(), r, nullptr, lse.data());
    auto out = Array<T>::from_shape(detail::xshape(logits.shape()));
    const T* x = logits.data<T>();
    for (std::size_t i = 0; i < r.rows; ++i) {
      for (std::size_t j = 0; j < r.classes; ++j)
        out.data()[i * r.classes + j] = x[i * r.classes + j] - lse[i];
    }
    return detail::make_tensor(std::move(out));
  });
  return record("log_softmax", std::move(out), {logits}, [](const BackwardArgs& s) {
    return std::vector<Gradient>{
        detail::map2("log_softmax", s.grad, s.out, [](const auto& g, const auto& y) {
          const std::size_t last = y.dimension() - 1;
          auto total =
              xt::eval(xt::sum(g, {last}, xt::keep_dims | xt::evaluation_strategy::immediate));
          return xt::eval(g - xt::exp(y) * total);
        })};
  });
}

// loss = sum(labels * (logsumexp(logits) - logits)); d logits = g[..., None] * (softmax - labels),
// exactly TF1's kernel (no Σlabels factor); labels get no gradient.
Tensor softmax_cross_entropy_with_logits(const Tensor& labels, const Tensor& logits) {
  const char* op = "softmax_cross_entropy_with_logits";
  detail::require_same_dtype(op, labels, logits);
  if (labels.shape() != logits.shape()) {
    throw ShapeError(
        fmt::format("{}: labels and logits must have the same shape, got labels {} and logits {}",
                    op, shape_str(labels.shape()), shape_str(logits.shape())));
  }
  Tensor out = detail::dispatch_float(op, logits.dtype(), [&](auto t) {
    using T = decltype(t);
    const Rows r = rows_of(op, logits);
    std::vector<T> lse(r.rows);
    row_softmax<T>(logits.data<T>(), r, nullptr, lse.data());
    auto loss = Array<T>::from_shape(detail::xshape(batch_shape(logits)));
    const T* x = logits.data<T>();
    const T* y = labels.data<T>();
    for (std::size_t i = 0; i < r.rows; ++i) {
      T acc = 0;
      for (std::size_t j = 0; j < r.classes; ++j)
        acc += y[i * r.classes + j] * (lse[i] - x[i * r.classes + j]);
      loss.data()[i] = acc;
    }
    return detail::make_tensor(std::move(loss));
  });
  return record(op, std::move(out), {labels, logits}, [](const BackwardArgs& s) {
    Tensor g =
        detail::dispatch_float("softmax_cross_entropy_with_logits", s.grad.dtype(), [&](auto t) {
          using T = decltype(t);
          Array<T> sm = softmax_array<T>(s.in[1]);
          auto gk = detail::arr<T>(s.grad);
          auto shape = gk.shape();
          shape.push_back(1);
          Array<T> gcol = gk;
          gcol.reshape(shape);
          return detail::make_tensor(Array<T>(gcol * (sm - detail::arr<T>(s.in[0]))));
        });
    return std::vector<Gradient>{Gradient(), std::move(g)};
  });
}

// loss = logsumexp(logits) - logits[label]; d logits = g[..., None] * (softmax - one_hot(label)).
Tensor sparse_softmax_cross_entropy_with_logits(const Tensor& labels, const Tensor& logits) {
  const char* op = "sparse_softmax_cross_entropy_with_logits";
  if (labels.dtype() != DType::int64) {
    throw DTypeError(fmt::format("{}: labels must be int64 class indices, got {}", op,
                                 dtype_name(labels.dtype())));
  }
  const Rows r = rows_of(op, logits);
  if (labels.shape() != batch_shape(logits)) {
    throw ShapeError(fmt::format("{}: labels must have shape logits.shape[:-1] = {}, got {}", op,
                                 shape_str(batch_shape(logits)), shape_str(labels.shape())));
  }
  const auto* lab = labels.data<std::int64_t>();
  for (std::size_t i = 0; i < r.rows; ++i) {
    if (lab[i] < 0 || static_cast<std::size_t>(lab[i]) >= r.classes) {
      throw InvalidArgumentError(fmt::format("{}: label {} at position {} is out of range [0, {})",
                                             op, lab[i], i, r.classes));
    }
  }
  Tensor out = detail::dispatch_float(op, logits.dtype(), [&](auto t) {
    using T = decltype(t);
    std::vector<T> lse(r.rows);
    row_softmax<T>(logits.data<T>(), r, nullptr, lse.data());
    auto loss = Array<T>::from_shape(detail::xshape(batch_shape(logits)));
    const T* x = logits.data<T>();
    for (std::size_t i = 0; i < r.rows; ++i) loss.data()[i] = lse[i] - x[i * r.classes + lab[i]];
    return detail::make_tensor(std::move(loss));
  });
  return record(op, std::move(out), {labels, logits}, [](const BackwardArgs& s) {
    Tensor g = detail::dispatch_float(
        "sparse_softmax_cross_entropy_with_logits", s.grad.dtype(), [&](auto t) {
          using T = decltype(t);
          Array<T> sm = softmax_array<T>(s.in[1]);
          const Rows rr = rows_of("sparse_softmax_cross_entropy_with_logits", s.in[1]);
          const auto* lb = s.in[0].data<std::int64_t>();
          const T* g = s.grad.data<T>();
          for (std::size_t i = 0; i < rr.rows; ++i) {
            T* row = sm.data() + i * rr.classes;
            row[lb[i]] -= T(1);
            for (std::size_t j = 0; j < rr.classes; ++j) row[j] *= g[i];
          }
          return detail::make_tensor(std::move(sm));
        });
    return std::vector<Gradient>{Gradient(), std::move(g)};
  });
}

}  // namespace tapeflow
