// AdamW (docs/semantics.md §11): decoupled weight decay, then Adam's update.
#include "tapeflow/optim/adamw.hpp"

#include "tapeflow/optim/detail/update_kernels.hpp"

namespace tapeflow {
namespace {
template <class T>
void decay_rows(T* w, std::size_t n, T factor) {
#pragma omp parallel for simd if (parallel : n > detail::kParallelThreshold) schedule(static)
  for (std::size_t i = 0; i < n; ++i) w[i] -= factor * w[i];
}
}  // namespace

AdamW::AdamW(AdamOptions options, double weight_decay,
             std::vector<std::string> exclude_from_weight_decay)
    : Adam("AdamW", std::move(options)),
      weight_decay_(weight_decay),
      exclude_(std::move(exclude_from_weight_decay)) {
  detail::check_range("AdamW", "weight_decay", weight_decay, 0, std::numeric_limits<double>::max(),
                      "finite and >= 0");
}

bool AdamW::decays(const Variable& var) const {
  for (const auto& part : exclude_) {
    if (var.name().find(part) != std::string::npos) return false;
  }
  return true;
}

void AdamW::apply_dense(const Tensor& grad, Variable& var) {
  if (weight_decay_ > 0 && decays(var)) {
    detail::for_var_dtype("AdamW", var, [&](auto tag) {
      using T = decltype(tag);
      decay_rows<T>(var.mutable_data<T>(), var.value().size(),
                    static_cast<T>(lr() * weight_decay_));
    });
  }
  Adam::apply_dense(grad, var);
}

// The base merged duplicate indices, so each indexed row decays once.
void AdamW::apply_sparse(const IndexedSlices& grad, Variable& var) {
  if (weight_decay_ > 0 && decays(var)) {
    detail::for_var_dtype("AdamW", var, [&](auto tag) {
      using T = decltype(tag);
      T* w = var.mutable_data<T>();
      detail::for_each_row<T>(grad, var, [&](std::size_t at, const T*, std::size_t n) {
        decay_rows<T>(w + at, n, static_cast<T>(lr() * weight_decay_));
      });
    });
  }
  Adam::apply_sparse(grad, var);
}

}  // namespace tapeflow
