// MomentumOptimizer (docs/semantics.md §7), TF's ApplyMomentum kernel.
#include "tapeflow/optim/momentum.hpp"

#include <cmath>

#include "tapeflow/optim/detail/update_kernels.hpp"

namespace tapeflow {

Momentum::Momentum(const MomentumOptions& o)
    : Optimizer("Momentum", o.learning_rate(), {"momentum"}),
      momentum_(o.momentum()),
      nesterov_(o.use_nesterov()) {
  if (!std::isfinite(momentum_) || momentum_ < 0) {
    throw InvalidArgumentError(
        fmt::format("Momentum: momentum must be finite and >= 0, got {}{}", momentum_,
                    momentum_ == -1 ? " (MomentumOptions::momentum was not set)" : ""));
  }
}

Momentum::Momentum(LearningRate learning_rate, double momentum, bool use_nesterov)
    : Momentum(
          MomentumOptions(std::move(learning_rate)).momentum(momentum).use_nesterov(use_nesterov)) {
}

namespace {
// a <- mu a + g; plain: w <- w - lr a; Nesterov (TF's form): w <- w - (lr g + lr mu a).
template <class T>
void momentum_rows(T* w, T* a, const T* g, std::size_t n, T lr, T mu, bool nesterov) {
  if (nesterov) {
#pragma omp parallel for simd if (parallel : n > detail::kParallelThreshold) schedule(static)
    for (std::size_t i = 0; i < n; ++i) {
      a[i] = mu * a[i] + g[i];
      w[i] -= lr * g[i] + lr * mu * a[i];
    }
  } else {
#pragma omp parallel for simd if (parallel : n > detail::kParallelThreshold) schedule(static)
    for (std::size_t i = 0; i < n; ++i) {
      a[i] = mu * a[i] + g[i];
      w[i] -= lr * a[i];
    }
  }
}
}  // namespace

void Momentum::apply_dense(const Tensor& grad, Variable& var) {
  const double lr = this->lr();
  detail::for_var_dtype("Momentum", var, [&](auto tag) {
    using T = decltype(tag);
    Variable& acc = slot(var, "momentum");
    momentum_rows<T>(var.mutable_data<T>(), acc.mutable_data<T>(), grad.data<T>(), grad.size(),
                     static_cast<T>(lr), static_cast<T>(momentum_), nesterov_);
  });
}

// Duplicates were merged by the base; rows not in indices keep their accumulator and value.
void Momentum::apply_sparse(const IndexedSlices& merged, Variable& var) {
  const double lr = this->lr();
  detail::for_var_dtype("Momentum", var, [&](auto tag) {
    using T = decltype(tag);
    Variable& acc = slot(var, "momentum");
    const std::size_t row = detail::row_size(var);
    T* w = var.mutable_data<T>();
    T* a = acc.mutable_data<T>();
    const T* g = merged.values.data<T>();
    const auto* idx = merged.indices.data<std::int64_t>();
    for (std::size_t k = 0; k < merged.indices.size(); ++k) {
      momentum_rows<T>(w + idx[k] * row, a + idx[k] * row, g + k * row, row, static_cast<T>(lr),
                       static_cast<T>(momentum_), nesterov_);
    }
  });
}

}  // namespace tapeflow
