// The TF 1.x optimizer contract: compute_gradients, apply_gradients, minimize.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "tapeflow/autograd/gradient.hpp"
#include "tapeflow/autograd/variable.hpp"
#include "tapeflow/clip/stage.hpp"
#include "tapeflow/core/npz.hpp"
#include "tapeflow/optim/schedule.hpp"

namespace tapeflow {

/// What compute_gradients_and_loss returns: the pairs and the loss they are of.
struct GradientsAndLoss {
  GradsAndVars grads_and_vars;
  Tensor loss;
};

/// Base of every optimizer (docs/semantics.md §5). apply_gradients is a fixed
/// sequence: validate everything, run the clipping stage, create slots and
/// non-slot scalars, then update each variable in one fused pass. A failure
/// before the updates leaves every variable, slot and counter untouched.
///
/// A new optimizer names its slots (and non-slot scalars) in its constructor
/// and overrides at most four hooks: prepare (once per call, before the
/// updates; lr() is this step's rate), apply_dense, apply_sparse (duplicate
/// indices already merged by the base) and finish (once per call, after).
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// Runs `loss_fn` under a fresh tape and returns one (gradient, variable)
  /// pair per variable of `var_list` (empty: every trainable variable), in
  /// order; the gradient is dense, IndexedSlices, or none when the loss does
  /// not depend on the variable. Without `grad_loss` the initial gradient is
  /// ones of the loss's shape.
  /// @throws NoVariablesError ("No variables to optimize"), InvalidArgumentError
  /// for a duplicate or non-trainable variable, ShapeError / DTypeError for a
  /// grad_loss that does not match the loss.
  GradsAndVars compute_gradients(const std::function<Tensor()>& loss_fn,
                                 std::vector<Variable> var_list = {},
                                 const std::optional<Tensor>& grad_loss = std::nullopt);
  /// The same for a loss already recorded on a tape the caller opened (the
  /// innermost active tape that recorded it; that tape is used up).
  GradsAndVars compute_gradients(const Tensor& loss, std::vector<Variable> var_list = {},
                                 const std::optional<Tensor>& grad_loss = std::nullopt);
  /// compute_gradients(loss_fn, ...) that also hands back the loss it computed,
  /// so a training loop need not capture it inside the callable. `on_ready`
  /// (optional) is called with (index in var_list, gradient) as soon as each
  /// gradient is final during the backward sweep (GradientReadyFn), which is
  /// how DistributedOptimizer overlaps communication with the sweep.
  GradientsAndLoss compute_gradients_and_loss(const std::function<Tensor()>& loss_fn,
                                              std::vector<Variable> var_list = {},
                                              const std::optional<Tensor>& grad_loss = std::nullopt,
                                              const GradientReadyFn& on_ready = {});

  /// Applies the gradients (docs/semantics.md §5.2): none entries are skipped; the
  /// installed clipping stage runs once before any variable changes; then
  /// `global_step` (an int64 scalar variable, if given) and iterations() advance by one.
  /// @throws NoVariablesError, NoGradientsError, InvalidArgumentError (duplicate
  /// variable, shape, dtype, IndexedSlices checks), NonFiniteError (policy raise).
  void apply_gradients(GradsAndVars grads_and_vars, Variable* global_step = nullptr);

  /// compute_gradients then apply_gradients.
  void minimize(const std::function<Tensor()>& loss_fn, Variable* global_step = nullptr,
                std::vector<Variable> var_list = {},
                const std::optional<Tensor>& grad_loss = std::nullopt);
  void minimize(const Tensor& loss, Variable* global_step = nullptr,
                std::vector<Variable> var_list = {},
                const std::optional<Tensor>& grad_loss = std::nullopt);

  /// The slot `name` of `var`, or nullopt if it was never created.
  std::optional<Tensor> get_slot(const Variable& var, const std::string& name) const;
  /// The slot names this optimizer uses, sorted ("momentum"; "m", "v"; none for SGD).
  std::vector<std::string> get_slot_names() const;
  /// Successful apply_gradients calls so far.
  std::int64_t iterations() const { return iterations_; }
  /// The learning rate at `step`.
  double learning_rate(std::int64_t step) const { return learning_rate_.at(step); }
  const std::string& name() const { return name_; }

  /// Installs the clipping stage that every apply_gradients runs.
  void set_clipping(clip::GradientTransform transform,
                    clip::NonFinite policy = clip::NonFinite::propagate);
  /// What the stage did in the last call.
  const clip::Report& clip_report() const { return stage_.report(); }
  /// When on, every apply_gradients checks the variables it updated for inf
  /// and NaN afterwards and raises NonFiniteError naming them (the update and
  /// the counters stay applied: this reports a diverged step, it does not undo
  /// it; the stage's NonFinite::raise and skip act before any write).
  void set_check_numerics(bool on) { check_numerics_ = on; }

  /// A non-slot scalar (Adam's "beta1_power"), or nullopt before the first
  /// successful apply_gradients creates it.
  std::optional<double> get_non_slot(const std::string& name) const;

  /// Everything a checkpoint must hold to resume exactly: "type" (the
  /// optimizer's name as int64 character codes), "iterations", slots as
  /// "<var name>/<slot>", and the non-slot scalars once created.
  NamedTensors state() const;
  /// Makes this optimizer's state for `vars` equal to `state`: slots are
  /// matched by variable name, and slots or scalars that `state` lacks (saved
  /// before they existed) are removed.
  /// @throws DataError, before changing anything, for a missing entry, a
  /// shape/dtype mismatch, or state saved by another optimizer type.
  void load_state(const NamedTensors& state, const std::vector<Variable>& vars);

 protected:
  Optimizer(std::string name, LearningRate learning_rate, std::vector<std::string> slot_names);

  /// Once per apply_gradients call that updates, before the updates.
  virtual void prepare() {}
  /// var <- update(var, grad) for a dense gradient, one fused pass.
  virtual void apply_dense(const Tensor& grad, Variable& var) = 0;
  /// The same for IndexedSlices: validated, duplicate indices merged.
  virtual void apply_sparse(const IndexedSlices& grad, Variable& var) = 0;
  /// Once per apply_gradients call that updates, after the updates.
  virtual void finish() {}
  /// The value a new slot is filled with (zero unless an optimizer says otherwise).
  virtual double slot_initial_value(const std::string& /*slot_name*/) const { return 0.0; }

  /// The learning rate of the call being applied (read once per call).
  double lr() const { return lr_; }
  /// The slot `name` of `var`, created on first use.
  Variable& slot(const Variable& var, const std::string& name);
  /// Declares a non-slot scalar (TF1's _create_non_slot_variable): the base
  /// creates it with `initial` at the first successful apply, saves and
  /// restores it. Call from the constructor.
  void add_non_slot(const std::string& name, double initial);
  /// A declared non-slot scalar, for prepare/finish to read and update.
  double& non_slot(const std::string& name);

 private:
  GradsAndVars compute_with_tape(class GradientTape& tape, const Tensor& loss,
                                 const std::vector<Variable>& vars,
                                 const std::optional<Tensor>& grad_loss,
                                 const GradientReadyFn& on_ready = {});
  std::vector<Variable> resolve_var_list(std::vector<Variable> var_list) const;
  void apply(GradsAndVars grads_and_vars, Variable* global_step, bool from_minimize);

  std::string name_;
  LearningRate learning_rate_;
  std::vector<std::string> slot_names_;
  struct SlotSet {
    Variable var;  // keeps the key alive
    std::unordered_map<std::string, Variable> slots;
  };
  std::unordered_map<const void*, SlotSet> slots_;
  struct NonSlot {
    double initial;
    std::optional<double> value;  // created at the first successful apply
  };
  std::unordered_map<std::string, NonSlot> non_slots_;
  std::int64_t iterations_ = 0;
  double lr_ = 0.0;
  bool check_numerics_ = false;
  clip::Stage stage_;
};

}  // namespace tapeflow
