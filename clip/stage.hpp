// The clipping stage (docs/semantics.md §4): a GradsAndVars -> GradsAndVars
// value that an optimizer runs once inside every apply_gradients, after
// validation and before any variable changes.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "tapeflow/autograd/gradient.hpp"
#include "tapeflow/autograd/ops.hpp"
#include "tapeflow/autograd/variable.hpp"

namespace tapeflow::clip {

/// What the stage did in its last call, for logging, and the step it ran for.
struct Report {
  /// The step of the apply_gradients call being transformed (the global step
  /// if one was passed, else the optimizer's iterations), for transforms that
  /// change with the step.
  std::int64_t step = 0;
  /// Pre-clip global norm seen by the last by_global_norm in the chain (may be inf/NaN).
  std::optional<double> global_norm;
  /// Changes the last call made to gradients (a gradient changed by two
  /// transforms of a chain counts twice).
  std::int64_t tensors_changed = 0;
  /// Calls skipped by the `skip` policy, in total.
  std::int64_t skipped_steps = 0;
};

/// A transform of the (gradient, variable) list: same length and order, none passed through.
class GradientTransform {
 public:
  using Fn = std::function<GradsAndVars(GradsAndVars, Report&)>;
  /// The identity.
  GradientTransform();
  explicit GradientTransform(Fn fn);
  /// Any user callable GradsAndVars -> GradsAndVars.
  template <class F,
            class = std::enable_if_t<std::is_invocable_r_v<GradsAndVars, F, GradsAndVars> &&
                                     !std::is_same_v<std::decay_t<F>, GradientTransform>>>
  GradientTransform(F f)  // NOLINT: implicit, so a lambda can be installed directly
      : fn_([f = std::move(f)](GradsAndVars gv, Report&) { return f(std::move(gv)); }) {}

  GradsAndVars operator()(GradsAndVars gv) const;
  GradsAndVars operator()(GradsAndVars gv, Report& report) const;

 private:
  Fn fn_;
};

GradientTransform identity();
/// clip_by_value on each gradient. @throws at construction for bad bounds.
GradientTransform by_value(double clip_value_min, double clip_value_max);
/// clip_by_norm on each gradient.
GradientTransform by_norm(double clip_norm, const Axes& axes = std::nullopt);
/// clip_by_average_norm on each gradient (sparse ones become dense).
GradientTransform by_average_norm(double clip_norm);

/// A clip norm that depends on the step (like a learning-rate schedule).
using ClipNormSchedule = std::function<double(std::int64_t step)>;
/// Supplies the norm to clip by instead of computing it (TF's use_norm), e.g.
/// a norm already known from elsewhere. Must return a value >= 0.
using UseNorm = std::function<double(const GradsAndVars&)>;
/// clip_by_global_norm over the whole list; records the norm in the report.
/// Computes exactly what clip::clip_by_global_norm computes (bit for bit).
GradientTransform by_global_norm(double clip_norm, UseNorm use_norm = {});
/// The same with the clip norm read at each call's step. A schedule value
/// that is not > 0 raises InvalidArgumentError before any variable changes.
GradientTransform by_global_norm(ClipNormSchedule clip_norm, UseNorm use_norm = {});
/// Adaptive gradient clipping (Brock et al. 2021, NFNets; optax's
/// adaptive_grad_clip), the transform that needs the variables: per unit,
/// with p = max(‖var unit‖, eps) and n = ‖g unit‖, where n > clipping p the
/// gradient is scaled by clipping p / max(n, 1e-6). Units as optax's
/// unitwise_norm: by the rank after dropping size-1 axes, <= 1 the whole
/// tensor, 2 or 3 each slice along axis 0 (a Dense kernel's output columns),
/// 4 each output channel of an HWIO kernel (axes 0, 1, 2). IndexedSlices of a
/// rank-2 variable: duplicates merged, each row one unit against the same row
/// of the variable. docs/semantics.md §4.
/// @throws InvalidArgumentError naming clipping (> 0, finite) or eps (>= 0,
/// finite) here; for rank >= 5 or sparse gradients of other ranks when run.
GradientTransform by_adaptive(double clipping, double eps = 1e-3);
/// Applies the transforms left to right (like optax.chain).
GradientTransform chain(std::vector<GradientTransform> transforms);
template <class... T>
GradientTransform chain(GradientTransform first, T... rest) {
  return chain(
      std::vector<GradientTransform>{std::move(first), GradientTransform(std::move(rest))...});
}

/// What to do when a gradient entering the stage has an inf or NaN element.
enum class NonFinite {
  propagate,  ///< TF's behaviour: nothing special (by_global_norm then makes everything NaN)
  raise,      ///< NonFiniteError naming every offending variable; nothing changes
  skip,       ///< the whole apply_gradients call is a no-op, counted in Report::skipped_steps
};

/// A transform with its non-finite policy and report, as installed on an optimizer.
class Stage {
 public:
  explicit Stage(GradientTransform transform = identity(), NonFinite policy = NonFinite::propagate);
  /// The transformed list, or nullopt when the policy says to skip this step.
  /// @throws NonFiniteError under `raise`; InvalidArgumentError if a user
  /// transform changes the list's length or variables.
  std::optional<GradsAndVars> run(GradsAndVars gv, std::int64_t step = 0);
  const Report& report() const { return report_; }
  NonFinite policy() const { return policy_; }

 private:
  GradientTransform transform_;
  NonFinite policy_;
  Report report_;
};

/// Names of the variables whose gradient has an inf or NaN element.
std::vector<std::string> non_finite_variables(const GradsAndVars& gv);

}  // namespace tapeflow::clip
