// The clipping stage (docs/semantics.md §4). Its transforms call the same
// kernels as TF's functions in clip.cpp, so both give identical numbers.
#include "tapeflow/clip/stage.hpp"

#include <algorithm>
#include <cmath>

#include "tapeflow/autograd/detail/ops_util.hpp"
#include "tapeflow/clip/detail/kernels.hpp"

namespace tapeflow::clip {
using namespace kernels;

GradientTransform::GradientTransform() : fn_([](GradsAndVars gv, Report&) { return gv; }) {}
GradientTransform::GradientTransform(Fn fn) : fn_(std::move(fn)) {}

GradsAndVars GradientTransform::operator()(GradsAndVars gv) const {
  Report scratch;
  return (*this)(std::move(gv), scratch);
}

GradsAndVars GradientTransform::operator()(GradsAndVars gv, Report& report) const {
  return fn_(std::move(gv), report);
}

GradientTransform identity() { return GradientTransform(); }

namespace {
// A per-gradient transform: f(gradient, changed) for every present entry.
template <class F>
GradientTransform per_tensor(F f) {
  return GradientTransform([f](GradsAndVars gv, Report& report) {
    for (auto& pair : gv) {
      Gradient& g = pair.first;
      if (g.is_none()) continue;
      bool changed = false;
      g = f(g, changed);
      report.tensors_changed += changed;
    }
    return gv;
  });
}
}  // namespace

GradientTransform by_value(double lo, double hi) {
  check_bounds("clip::by_value", lo, hi);
  return per_tensor([lo, hi](const Gradient& g, bool& c) { return value_clip(g, lo, hi, c); });
}

GradientTransform by_norm(double clip_norm, const Axes& axes) {
  check_clip_norm("clip::by_norm", clip_norm);
  return per_tensor(
      [clip_norm, axes](const Gradient& g, bool& c) { return norm_clip(g, clip_norm, axes, c); });
}

GradientTransform by_average_norm(double clip_norm) {
  check_clip_norm("clip::by_average_norm", clip_norm);
  return per_tensor(
      [clip_norm](const Gradient& g, bool& c) { return average_norm_clip(g, clip_norm, c); });
}

GradientTransform by_global_norm(double clip_norm, UseNorm use_norm) {
  check_clip_norm("clip::by_global_norm", clip_norm);
  return by_global_norm([clip_norm](std::int64_t) { return clip_norm; }, std::move(use_norm));
}

GradientTransform by_global_norm(ClipNormSchedule clip_norm, UseNorm use_norm) {
  if (!clip_norm) throw InvalidArgumentError("clip::by_global_norm: clip_norm schedule is empty");
  return GradientTransform([clip_norm = std::move(clip_norm), use_norm = std::move(use_norm)](
                               GradsAndVars gv, Report& report) {
    const double c = clip_norm(report.step);
    check_clip_norm("clip::by_global_norm", c);
    std::optional<double> given;
    if (use_norm) {
      given = use_norm(gv);
      if (!(*given >= 0)) {
        throw InvalidArgumentError(
            fmt::format("clip::by_global_norm: use_norm must be >= 0, got {}", *given));
      }
    }
    std::vector<Gradient> grads;
    grads.reserve(gv.size());
    for (auto& pair : gv) grads.push_back(std::move(pair.first));  // the list owns its gradients
    const auto values = present(grads);
    const double norm = given ? *given : global_norm_value(values);
    report.global_norm = norm;
    const double scale = global_scale(norm, c);
    if (scale != 1.0) report.tensors_changed += static_cast<std::int64_t>(values.size());
    grads = scale_list(std::move(grads), scale);
    for (std::size_t i = 0; i < gv.size(); ++i) gv[i].first = std::move(grads[i]);
    return gv;
  });
}

namespace {
// Elements per unit-norm group: the norm of unit u sums the elements i with
// i % units == u (row-major), i.e. the reduced axes are the leading ones.
std::size_t unit_count(const char* op, const Shape& shape) {
  std::size_t squeezed = 0;
  for (std::size_t d : shape) squeezed += d != 1;
  const std::size_t size = shape_size(shape);
  if (squeezed <= 1 || size == 0) return 1;
  if (squeezed <= 3) return size / shape[0];
  if (squeezed == 4) return size / (shape[0] * shape[1] * shape[2]);
  throw InvalidArgumentError(
      fmt::format("{}: unit-wise norms are defined up to rank 4 (after dropping size-1 axes), got "
                  "a tensor of shape {}",
                  op, shape_str(shape)));
}

template <class T>
std::vector<double> unit_norms(const T* p, std::size_t size, std::size_t units) {
  std::vector<double> ss(units, 0.0);
  for (std::size_t i = 0; i < size; ++i) ss[i % units] += static_cast<double>(p[i]) * p[i];
  for (double& x : ss) x = std::sqrt(x);
  return ss;
}

// The factor for one unit: 1 unless its gradient norm exceeds clipping * max(param norm, eps).
double adaptive_factor(double g_norm, double p_norm, double clipping, double eps) {
  const double limit = clipping * std::max(p_norm, eps);
  return g_norm > limit ? limit / std::max(g_norm, 1e-6) : 1.0;
}

Gradient adaptive_dense(const Tensor& g, const Variable& v, double clipping, double eps,
                        bool& changed) {
  if (g.shape() != v.shape() || g.dtype() != v.dtype()) {
    throw ShapeError(fmt::format(
        "clip::by_adaptive: the gradient ({} {}) must have the shape and dtype of variable '{}' "
        "({} {})",
        dtype_name(g.dtype()), shape_str(g.shape()), v.name(), dtype_name(v.dtype()),
        shape_str(v.shape())));
  }
  const std::size_t units = unit_count("clip::by_adaptive", v.shape());
  return detail::dispatch_float("clip::by_adaptive", g.dtype(), [&](auto tag) -> Gradient {
    using T = decltype(tag);
    const std::size_t n = g.size();
    const auto gn = unit_norms(g.data<T>(), n, units);
    const auto pn = unit_norms(v.value().data<T>(), n, units);
    std::vector<T> factor(units);
    for (std::size_t u = 0; u < units; ++u) {
      const double f = adaptive_factor(gn[u], pn[u], clipping, eps);
      changed = changed || f != 1.0;
      factor[u] = static_cast<T>(f);
    }
    if (!changed) return g;
    std::vector<T> out(g.data<T>(), g.data<T>() + n);
    for (std::size_t i = 0; i < n; ++i) out[i] *= factor[i % units];
    return Tensor::from_vector(out, g.shape());
  });
}

Gradient adaptive_sparse(const IndexedSlices& g, const Variable& v, double clipping, double eps,
                         bool& changed) {
  if (v.shape().size() != 2) {
    throw InvalidArgumentError(fmt::format(
        "clip::by_adaptive: IndexedSlices are clipped row by row for rank-2 variables (an "
        "embedding); variable '{}' has shape {}",
        v.name(), shape_str(v.shape())));
  }
  g.validate("clip::by_adaptive");
  if (g.dense_shape != v.shape() || g.dtype() != v.dtype()) {
    throw ShapeError(fmt::format(
        "clip::by_adaptive: IndexedSlices of dense_shape {} ({}) do not fit variable '{}' ({} {})",
        shape_str(g.dense_shape), dtype_name(g.dtype()), v.name(), dtype_name(v.dtype()),
        shape_str(v.shape())));
  }
  const IndexedSlices merged = merge_duplicates(g);
  const std::size_t row = v.shape()[1];
  return detail::dispatch_float("clip::by_adaptive", g.dtype(), [&](auto tag) -> Gradient {
    using T = decltype(tag);
    const T* gv = merged.values.data<T>();
    const T* pv = v.value().data<T>();
    const auto* idx = merged.indices.data<std::int64_t>();
    std::vector<T> out(gv, gv + merged.values.size());
    for (std::size_t k = 0; k < merged.indices.size(); ++k) {
      const double gn = unit_norms(gv + k * row, row, 1)[0];
      const double pn = unit_norms(pv + static_cast<std::size_t>(idx[k]) * row, row, 1)[0];
      const double f = adaptive_factor(gn, pn, clipping, eps);
      changed = changed || f != 1.0;
      for (std::size_t j = 0; j < row; ++j) out[k * row + j] *= static_cast<T>(f);
    }
    return IndexedSlices{Tensor::from_vector(out, merged.values.shape()), merged.indices,
                         merged.dense_shape};
  });
}
}  // namespace

GradientTransform by_adaptive(double clipping, double eps) {
  if (!(std::isfinite(clipping) && clipping > 0)) {
    throw InvalidArgumentError(
        fmt::format("clip::by_adaptive: clipping must be finite and > 0, got {}", clipping));
  }
  if (!(std::isfinite(eps) && eps >= 0)) {
    throw InvalidArgumentError(
        fmt::format("clip::by_adaptive: eps must be finite and >= 0, got {}", eps));
  }
  return GradientTransform([clipping, eps](GradsAndVars gv, Report& report) {
    for (auto& pair : gv) {
      if (pair.first.is_none()) continue;
      bool changed = false;
      pair.first = pair.first.is_sparse()
                       ? adaptive_sparse(pair.first.sparse(), pair.second, clipping, eps, changed)
                       : adaptive_dense(pair.first.dense(), pair.second, clipping, eps, changed);
      report.tensors_changed += changed;
    }
    return gv;
  });
}

GradientTransform chain(std::vector<GradientTransform> transforms) {
  return GradientTransform([transforms = std::move(transforms)](GradsAndVars gv, Report& report) {
    for (const auto& t : transforms) gv = t(std::move(gv), report);
    return gv;
  });
}

std::vector<std::string> non_finite_variables(const GradsAndVars& gv) {
  std::vector<std::string> names;
  for (const auto& pair : gv) {
    const Tensor* values = pair.first.is_none() ? nullptr : &pair.first.values();
    if (!values) continue;
    const bool bad = detail::dispatch_float("clip", values->dtype(), [values](auto tag) {
      const auto* p = values->data<decltype(tag)>();
      const std::size_t n = values->size();
      bool finite = true;
#pragma omp simd reduction(&& : finite)
      for (std::size_t i = 0; i < n; ++i) finite = finite && std::isfinite(p[i]);
      return !finite;
    });
    if (bad) names.push_back(pair.second.name());
  }
  return names;
}

Stage::Stage(GradientTransform transform, NonFinite policy)
    : transform_(std::move(transform)), policy_(policy) {}

std::optional<GradsAndVars> Stage::run(GradsAndVars gv, std::int64_t step) {
  if (policy_ != NonFinite::propagate) {
    const auto bad = non_finite_variables(gv);
    if (!bad.empty()) {
      if (policy_ == NonFinite::skip) {
        ++report_.skipped_steps;
        report_.tensors_changed = 0;
        return std::nullopt;
      }
      throw NonFiniteError(fmt::format(
          "apply_gradients: non-finite (inf or NaN) gradient for variables ['{}'] under the "
          "clipping stage's raise policy; no variable was changed",
          fmt::join(bad, "', '")));
    }
  }
  std::vector<Variable> vars;
  vars.reserve(gv.size());
  for (const auto& [g, v] : gv) vars.push_back(v);
  Report call;
  call.step = step;
  call.skipped_steps = report_.skipped_steps;
  GradsAndVars out = transform_(std::move(gv), call);
  if (out.size() != vars.size()) {
    throw InvalidArgumentError(fmt::format(
        "clip stage: a transform returned {} pairs for {} inputs; it must keep the list's length "
        "and order",
        out.size(), vars.size()));
  }
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i].second != vars[i]) {
      throw InvalidArgumentError(fmt::format(
          "clip stage: a transform replaced variable '{}' at position {} with '{}'; it must keep "
          "the list's variables and order",
          vars[i].name(), i, out[i].second.name()));
    }
  }
  report_ = call;
  return out;
}

}  // namespace tapeflow::clip
