// TensorFlow's gradient clipping functions, with SEMANTICS.md §3's exact
// formulas, and the clipping stage (§4): a GradsAndVars -> GradsAndVars value
// that an optimizer runs inside apply_gradients.
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

// ---- TF's functions ------------------------------------------------------

/// max(min(t, clip_value_max), clip_value_min). Bounds are scalars or tensors
/// broadcastable *to* t's shape. NaN in t stays NaN. Differentiable when
/// recorded: g passes where lo <= t <= hi (inclusive), a tensor bound receives
/// g where t fell outside on its side.
/// @throws InvalidArgumentError if any min > max ("clip_value_min"), a bound is
/// NaN ("clip_value"), or a bound would enlarge t ("broadcast").
Tensor clip_by_value(const Tensor& t, const Tensor& clip_value_min, const Tensor& clip_value_max);
Tensor clip_by_value(const Tensor& t, double clip_value_min, double clip_value_max);
/// Clips the values; indices and dense_shape are kept (duplicates are bounded separately).
IndexedSlices clip_by_value(const IndexedSlices& t, double clip_value_min, double clip_value_max);

/// t * clip_norm / max(‖t‖, clip_norm), with the norm over `axes` (default all;
/// an explicit empty list clips every element to magnitude clip_norm). A zero
/// slice stays zero; clip_norm = +inf returns t. Differentiable when recorded.
/// @throws InvalidArgumentError for clip_norm <= 0 or NaN ("clip_norm"), a bad axis.
Tensor clip_by_norm(const Tensor& t, double clip_norm, const Axes& axes = std::nullopt);
/// On the values (axes refer to the values' axes); duplicates are not merged.
IndexedSlices clip_by_norm(const IndexedSlices& t, double clip_norm,
                           const Axes& axes = std::nullopt);

/// TF1: t * clip_norm * min(N / ‖t‖, 1 / clip_norm), N = size(t): t is scaled
/// when ‖t‖ / N (the L2 norm divided by the element count) exceeds clip_norm.
/// IndexedSlices are densified (duplicates summed); the result is dense.
Tensor clip_by_average_norm(const Tensor& t, double clip_norm);
Tensor clip_by_average_norm(const IndexedSlices& t, double clip_norm);

/// sqrt of the sum of squares of every element of every entry, accumulated in
/// double. None entries are ignored; IndexedSlices count their values.
/// Returns a rank-0 float64 tensor if any entry is float64, else float32.
Tensor global_norm(const std::vector<Gradient>& t_list);
Tensor global_norm(const std::vector<Tensor>& t_list);

/// Scales every entry by clip_norm / max(norm, clip_norm), norm = use_norm if
/// given, else global_norm(t_list). A non-finite norm makes every entry NaN.
/// None entries stay none, IndexedSlices stay sparse. Returns (list, norm).
/// @throws InvalidArgumentError for a bad clip_norm ("clip_norm") or use_norm < 0 ("use_norm").
std::pair<std::vector<Gradient>, Tensor> clip_by_global_norm(
    const std::vector<Gradient>& t_list, double clip_norm,
    const std::optional<Tensor>& use_norm = std::nullopt);
std::pair<std::vector<Tensor>, Tensor> clip_by_global_norm(
    const std::vector<Tensor>& t_list, double clip_norm,
    const std::optional<Tensor>& use_norm = std::nullopt);

// ---- The stage -----------------------------------------------------------

/// What the stage did in its last call, for logging.
struct Report {
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
/// clip_by_global_norm over the whole list; records the norm in the report.
GradientTransform by_global_norm(double clip_norm);
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
  std::optional<GradsAndVars> run(GradsAndVars gv);
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
