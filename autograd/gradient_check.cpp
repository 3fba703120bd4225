// Finite-difference gradient checking (see gradient_check.hpp).
#include "tapeflow/autograd/gradient_check.hpp"

#include <cmath>

#include "tapeflow/autograd/ops.hpp"
#include "tapeflow/autograd/tape.hpp"
#include "tapeflow/core/detail/tensor_impl.hpp"

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
  std::vector<std::string> ops;
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
    ops = tape.op_names();
    analytic = tape.gradient(y, inputs, wt, UnconnectedGradients::zero);
  }
  GradientCheckResult result;
  result.ops = std::move(ops);
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
      const double rel = err / std::max(1.0, std::abs(numeric));
      if (rel > result.max_rel_error || (i == 0 && j == 0)) {
        result.max_rel_error = rel;
        result.worst_input = i;
        result.worst_input_shape = inputs[i].shape();
        result.worst_element = j;
        result.analytic = a[j];
        result.numeric = numeric;
      }
    }
    probe[i] = inputs[i];
  }
  return result;
}

std::string GradientCheckResult::describe() const {
  return fmt::format(
      "gradient check of [{}]: max relative error {:.3g} (absolute {:.3g}) at input {} of shape "
      "{}, "
      "element {}: tape {:.10g}, finite differences {:.10g}",
      fmt::join(ops, ", "), max_rel_error, max_abs_error, worst_input, shape_str(worst_input_shape),
      worst_element, analytic, numeric);
}

}  // namespace tapeflow
