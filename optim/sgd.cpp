// GradientDescentOptimizer (docs/semantics.md §6).
#include "tapeflow/optim/sgd.hpp"

#include "tapeflow/optim/detail/update_kernels.hpp"

namespace tapeflow {

SGD::SGD(LearningRate learning_rate) : Optimizer("SGD", std::move(learning_rate), {}) {}

void SGD::apply_dense(const Tensor& grad, Variable& var) {
  detail::for_var_dtype("SGD", var, [&](auto tag) {
    using T = decltype(tag);
    const T a = static_cast<T>(lr());
    const T* g = grad.data<T>();
    T* w = var.mutable_data<T>();
    const std::size_t n = grad.size();
#pragma omp parallel for simd if (parallel : n > detail::kParallelThreshold) schedule(static)
    for (std::size_t i = 0; i < n; ++i) w[i] -= a * g[i];
  });
}

// Scatter-subtract of the (merged) rows.
void SGD::apply_sparse(const IndexedSlices& grad, Variable& var) {
  detail::for_var_dtype("SGD", var, [&](auto tag) {
    using T = decltype(tag);
    const T a = static_cast<T>(lr());
    const T* g = grad.values.data<T>();
    const auto* idx = grad.indices.data<std::int64_t>();
    const std::size_t row = detail::row_size(var);
    T* w = var.mutable_data<T>();
    for (std::size_t k = 0; k < grad.indices.size(); ++k) {
      T* dst = w + idx[k] * row;
      for (std::size_t j = 0; j < row; ++j) dst[j] -= a * g[k * row + j];
    }
  });
}

}  // namespace tapeflow
