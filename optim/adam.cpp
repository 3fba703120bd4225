// AdamOptimizer with TF 1.x's formula (docs/semantics.md §8). Kingma & Ba 2014,
// Algorithm 1 in the "efficient" form of section 2: the bias correction is
// folded into the step size and epsilon is added to sqrt(v) ("epsilon hat").
#include "tapeflow/optim/adam.hpp"

#include <cmath>

#include "tapeflow/optim/detail/update_kernels.hpp"

namespace tapeflow {

namespace {
void check_unit(const std::string& op, const char* field, double x) {
  if (!(x >= 0 && x < 1)) {
    throw InvalidArgumentError(fmt::format("{}: {} must be in [0, 1), got {}", op, field, x));
  }
}

// One fused pass over a variable: reads g, m, v, w once and writes m, v, w once.
template <class T>
void adam_rows(T* w, T* m, T* v, const T* g, std::size_t n, T lr_t, T b1, T b2, T eps) {
  const T one_b1 = T(1) - b1;
  const T one_b2 = T(1) - b2;
#pragma omp parallel for simd if (parallel : n > detail::kParallelThreshold) schedule(static)
  for (std::size_t i = 0; i < n; ++i) {
    const T gi = g[i];
    const T mi = m[i] + (gi - m[i]) * one_b1;
    const T vi = v[i] + (gi * gi - v[i]) * one_b2;
    m[i] = mi;
    v[i] = vi;
    w[i] -= lr_t * mi / (std::sqrt(vi) + eps);
  }
}
}  // namespace

Adam::Adam(AdamOptions options) : Adam("Adam", std::move(options)) {}

Adam::Adam(std::string name, AdamOptions options)
    : Optimizer(std::move(name), options.learning_rate(), {"m", "v"}), opt_(std::move(options)) {
  check_unit(this->name(), "beta1", opt_.beta1());
  check_unit(this->name(), "beta2", opt_.beta2());
  if (!std::isfinite(opt_.epsilon()) || opt_.epsilon() < 0) {
    throw InvalidArgumentError(
        fmt::format("{}: epsilon must be finite and >= 0, got {}", this->name(), opt_.epsilon()));
  }
  // Created by the base at the first successful apply with values beta1, beta2.
  add_non_slot("beta1_power", opt_.beta1());
  add_non_slot("beta2_power", opt_.beta2());
}

// Once per call: the bias correction folded into the step size.
void Adam::prepare() {
  lr_t_ = lr() * std::sqrt(1 - non_slot("beta2_power")) / (1 - non_slot("beta1_power"));
}

// Once per apply_gradients call, however many variables it updated.
void Adam::finish() {
  non_slot("beta1_power") *= opt_.beta1();
  non_slot("beta2_power") *= opt_.beta2();
}

void Adam::apply_dense(const Tensor& grad, Variable& var) {
  const double lr_t = lr_t_;
  detail::for_var_dtype("Adam", var, [&](auto tag) {
    using T = decltype(tag);
    adam_rows<T>(var.mutable_data<T>(), slot(var, "m").mutable_data<T>(),
                 slot(var, "v").mutable_data<T>(), grad.data<T>(), grad.size(),
                 static_cast<T>(lr_t), static_cast<T>(opt_.beta1()), static_cast<T>(opt_.beta2()),
                 static_cast<T>(opt_.epsilon()));
  });
}

// The base merged duplicate indices, so g^2 is taken of the summed rows.
void Adam::apply_sparse(const IndexedSlices& merged, Variable& var) {
  const double lr_t = lr_t_;
  detail::for_var_dtype("Adam", var, [&](auto tag) {
    using T = decltype(tag);
    const T b1 = static_cast<T>(opt_.beta1()), b2 = static_cast<T>(opt_.beta2());
    const T eps = static_cast<T>(opt_.epsilon()), lt = static_cast<T>(lr_t);
    const std::size_t row = detail::row_size(var);
    const std::size_t n = shape_size(var.shape());
    T* w = var.mutable_data<T>();
    T* m = slot(var, "m").mutable_data<T>();
    T* v = slot(var, "v").mutable_data<T>();
    const T* g = merged.values.data<T>();
    const auto* idx = merged.indices.data<std::int64_t>();
    if (opt_.lazy()) {
      // LazyAdam: only the indexed rows of m, v and var change.
      for (std::size_t k = 0; k < merged.indices.size(); ++k) {
        adam_rows<T>(w + idx[k] * row, m + idx[k] * row, v + idx[k] * row, g + k * row, row, lt, b1,
                     b2, eps);
      }
      return;
    }
    // TF1: decay the whole of m and v, add the new rows, then update every row
    // of var; equal to the dense update with a zero-filled gradient.
    for (std::size_t i = 0; i < n; ++i) {
      m[i] *= b1;
      v[i] *= b2;
    }
    for (std::size_t k = 0; k < merged.indices.size(); ++k) {
      for (std::size_t j = 0; j < row; ++j) {
        const T gi = g[k * row + j];
        m[idx[k] * row + j] += (T(1) - b1) * gi;
        v[idx[k] * row + j] += (T(1) - b2) * gi * gi;
      }
    }
    for (std::size_t i = 0; i < n; ++i) w[i] -= lt * m[i] / (std::sqrt(v[i]) + eps);
  });
}

}  // namespace tapeflow
