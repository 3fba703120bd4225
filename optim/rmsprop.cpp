// RMSPropOptimizer (docs/semantics.md §11), TF1's ApplyRMSProp and
// ApplyCenteredRMSProp kernels.
#include "tapeflow/optim/rmsprop.hpp"

#include "tapeflow/optim/detail/update_kernels.hpp"

namespace tapeflow {

RMSProp::RMSProp(LearningRate learning_rate, double decay, double momentum, double epsilon,
                 bool centered)
    : Optimizer("RMSProp", std::move(learning_rate),
                centered ? std::vector<std::string>{"rms", "momentum", "mg"}
                         : std::vector<std::string>{"rms", "momentum"}),
      decay_(decay),
      momentum_(momentum),
      epsilon_(epsilon),
      centered_(centered) {
  constexpr double kInf = std::numeric_limits<double>::max();
  detail::check_range("RMSProp", "decay", decay, 0, 1, "in [0, 1]");
  detail::check_range("RMSProp", "momentum", momentum, 0, kInf, "finite and >= 0");
  detail::check_range("RMSProp", "epsilon", epsilon, 0, kInf, "finite and >= 0");
}

// One fused pass over n elements starting at `at` of the variable and its slots.
template <class T>
void RMSProp::rows(Variable& var, std::size_t at, const T* g, std::size_t n) {
  T* w = var.mutable_data<T>() + at;
  T* rms = slot(var, "rms").mutable_data<T>() + at;
  T* mom = slot(var, "momentum").mutable_data<T>() + at;
  T* mg = centered_ ? slot(var, "mg").mutable_data<T>() + at : nullptr;
  const T one_minus_decay = static_cast<T>(1 - decay_), mu = static_cast<T>(momentum_);
  const T lr = static_cast<T>(this->lr()), eps = static_cast<T>(epsilon_);
  if (mg) {
#pragma omp parallel for simd if (parallel : n > detail::kParallelThreshold) schedule(static)
    for (std::size_t i = 0; i < n; ++i) {
      rms[i] += (g[i] * g[i] - rms[i]) * one_minus_decay;
      mg[i] += (g[i] - mg[i]) * one_minus_decay;
      mom[i] = mu * mom[i] + lr * g[i] / std::sqrt(rms[i] - mg[i] * mg[i] + eps);
      w[i] -= mom[i];
    }
  } else {
#pragma omp parallel for simd if (parallel : n > detail::kParallelThreshold) schedule(static)
    for (std::size_t i = 0; i < n; ++i) {
      rms[i] += (g[i] * g[i] - rms[i]) * one_minus_decay;
      mom[i] = mu * mom[i] + lr * g[i] / std::sqrt(rms[i] + eps);
      w[i] -= mom[i];
    }
  }
}

void RMSProp::apply_dense(const Tensor& grad, Variable& var) {
  detail::for_var_dtype("RMSProp", var, [&](auto tag) {
    using T = decltype(tag);
    rows<T>(var, 0, grad.data<T>(), grad.size());
  });
}

void RMSProp::apply_sparse(const IndexedSlices& grad, Variable& var) {
  detail::for_var_dtype("RMSProp", var, [&](auto tag) {
    using T = decltype(tag);
    detail::for_each_row<T>(
        grad, var, [&](std::size_t at, const T* g, std::size_t n) { rows<T>(var, at, g, n); });
  });
}

}  // namespace tapeflow
