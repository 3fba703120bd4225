// AdagradOptimizer (docs/semantics.md §11), TF1's ApplyAdagrad kernel.
#include "tapeflow/optim/adagrad.hpp"

#include "tapeflow/optim/detail/update_kernels.hpp"

namespace tapeflow {
namespace {
template <class T>
void adagrad_rows(T* w, T* acc, const T* g, std::size_t n, T lr) {
#pragma omp parallel for simd if (parallel : n > detail::kParallelThreshold) schedule(static)
  for (std::size_t i = 0; i < n; ++i) {
    acc[i] += g[i] * g[i];
    w[i] -= lr * g[i] / std::sqrt(acc[i]);
  }
}
}  // namespace

Adagrad::Adagrad(LearningRate learning_rate, double initial_accumulator_value)
    : Optimizer("Adagrad", std::move(learning_rate), {"accumulator"}),
      initial_(initial_accumulator_value) {
  if (!(std::isfinite(initial_) && initial_ > 0)) {
    throw InvalidArgumentError(
        fmt::format("Adagrad: initial_accumulator_value must be finite and > 0, got {}", initial_));
  }
}

void Adagrad::apply_dense(const Tensor& grad, Variable& var) {
  detail::for_var_dtype("Adagrad", var, [&](auto tag) {
    using T = decltype(tag);
    adagrad_rows<T>(var.mutable_data<T>(), slot(var, "accumulator").mutable_data<T>(),
                    grad.data<T>(), grad.size(), static_cast<T>(lr()));
  });
}

void Adagrad::apply_sparse(const IndexedSlices& grad, Variable& var) {
  detail::for_var_dtype("Adagrad", var, [&](auto tag) {
    using T = decltype(tag);
    T* w = var.mutable_data<T>();
    T* acc = slot(var, "accumulator").mutable_data<T>();
    detail::for_each_row<T>(grad, var, [&](std::size_t at, const T* g, std::size_t n) {
      adagrad_rows<T>(w + at, acc + at, g, n, static_cast<T>(lr()));
    });
  });
}

}  // namespace tapeflow
