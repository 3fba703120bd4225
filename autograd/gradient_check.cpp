// Finite-difference gradient checking (see gradient_check.hpp).
#include "tapeflow/autograd/gradient_check.hpp"

#include <cmath>

#include "tapeflow/core/detail/tensor_impl.hpp"
#include "tapeflow/autograd/ops.hpp"
#include "tapeflow/autograd/tape.hpp"

namespace tapeflow {

namespace {
double weighted_sum(const Tensor& y, const std::vector<double>& w) {
  const std::vector<double> v = y.to_vector();
  double acc = 0;
  for (std::size_t i = 0; i < v.size(); ++i) acc += w[i] * v[i];
  return acc;
}

Tensor with_element(const Tensor& x, std::size_t j, double value) {
  return detail::dispatch_float("check_gradients", x.dtype(), [&](auto t) {
    using T = decltype(t);
    detail::Array<T> a = detail::arr<T>(x);
    a.data()[j] = static_cast<T>(value);
    return detail::make_tensor(std::move(a));
  });
}
}  // namespace

GradientCheckResult check_gradients(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                                    const std::vector<Tensor>& inputs, double delta,
                                    std::uint64_t seed) {
  Tensor y;
  std::vector<Gradient> analytic;
  std::vector<double> w;
  {
    GradientTape tape;
    for (const auto& x : inputs) tape.watch(x);
    y = f(inputs);
    Rng rng(seed);
    w.resize(y.size());
    for (auto& wi : w) wi = (rng.uniform() < 0.5 ? -1.0 : 1.0) * (0.5 + rng.uniform());
    Tensor wt = convert(Tensor::from_vector(w, y.shape()), y.dtype());
    analytic = tape.gradient(y, inputs, wt, UnconnectedGradients::zero);
  }
  GradientCheckResult result;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const std::vector<double> a = analytic[i].to_dense().to_vector();
    const std::vector<double> x = inputs[i].to_vector();
    std::vector<Tensor> probe = inputs;
    for (std::size_t j = 0; j < x.size(); ++j) {
      probe[i] = with_element(inputs[i], j, x[j] + delta);
      const double up = weighted_sum(f(probe), w);
      probe[i] = with_element(inputs[i], j, x[j] - delta);
      const double down = weighted_sum(f(probe), w);
      const double numeric = (up - down) / (2 * delta);
      double err = std::abs(a[j] - numeric);
      if (std::isnan(err)) err = INFINITY;  // std::max would silently drop a NaN
      result.max_abs_error = std::max(result.max_abs_error, err);
      result.max_rel_error = std::max(result.max_rel_error, err / std::max(1.0, std::abs(numeric)));
    }
    probe[i] = inputs[i];
  }
  return result;
}

}  // namespace tapeflow
