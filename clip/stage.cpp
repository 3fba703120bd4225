// The clipping stage (docs/semantics.md §4). Its transforms call the same
// kernels as TF's functions in clip.cpp, so both give identical numbers.
#include "tapeflow/clip/stage.hpp"

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
