// AdadeltaOptimizer (docs/semantics.md §11), TF1's ApplyAdadelta kernel.
#include "tapeflow/optim/adadelta.hpp"

#include "tapeflow/optim/detail/update_kernels.hpp"

namespace tapeflow {

Adadelta::Adadelta(LearningRate learning_rate, double rho, double epsilon)
    : Optimizer("Adadelta", std::move(learning_rate), {"accum", "accum_update"}),
      rho_(rho),
      epsilon_(epsilon) {
  detail::check_range("Adadelta", "rho", rho, 0, 1, "in [0, 1]");
  detail::check_range("Adadelta", "epsilon", epsilon, 0, std::numeric_limits<double>::max(),
                      "finite and >= 0");
}

template <class T>
void Adadelta::rows(Variable& var, std::size_t at, const T* g, std::size_t n) {
  T* w = var.mutable_data<T>() + at;
  T* accum = slot(var, "accum").mutable_data<T>() + at;
  T* accum_update = slot(var, "accum_update").mutable_data<T>() + at;
  const T rho = static_cast<T>(rho_), one_minus_rho = static_cast<T>(1 - rho_);
  const T eps = static_cast<T>(epsilon_), lr = static_cast<T>(this->lr());
#pragma omp parallel for simd if (parallel : n > detail::kParallelThreshold) schedule(static)
  for (std::size_t i = 0; i < n; ++i) {
    accum[i] = rho * accum[i] + one_minus_rho * g[i] * g[i];
    const T update = std::sqrt(accum_update[i] + eps) / std::sqrt(accum[i] + eps) * g[i];
    accum_update[i] = rho * accum_update[i] + one_minus_rho * update * update;
    w[i] -= lr * update;
  }
}

void Adadelta::apply_dense(const Tensor& grad, Variable& var) {
  detail::for_var_dtype("Adadelta", var, [&](auto tag) {
    using T = decltype(tag);
    rows<T>(var, 0, grad.data<T>(), grad.size());
  });
}

void Adadelta::apply_sparse(const IndexedSlices& grad, Variable& var) {
  detail::for_var_dtype("Adadelta", var, [&](auto tag) {
    using T = decltype(tag);
    detail::for_each_row<T>(
        grad, var, [&](std::size_t at, const T* g, std::size_t n) { rows<T>(var, at, g, n); });
  });
}

}  // namespace tapeflow
