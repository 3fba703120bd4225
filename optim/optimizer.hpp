// The TF 1.x optimizer contract: compute_gradients, apply_gradients, minimize.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tapeflow/autograd/gradient.hpp"
#include "tapeflow/autograd/variable.hpp"
#include "tapeflow/clip/clip.hpp"
#include "tapeflow/optim/schedule.hpp"

namespace tapeflow {

/// Base of SGD, Momentum and Adam (SEMANTICS.md §5). apply_gradients is a
/// fixed sequence: validate everything, run the clipping stage, create slots,
/// then update each variable in one fused pass. A failure before the updates
/// leaves every variable, slot and counter untouched.
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

  /// Applies the gradients (SEMANTICS.md §5.2): none entries are skipped; the
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

  /// Everything a checkpoint must hold to resume exactly: slots as
  /// "<var name>/<slot>", plus "iterations" and any optimizer scalars.
  std::map<std::string, Tensor> state() const;
  /// Restores `state()` for `vars` (slots are matched by variable name; a
  /// variable without slots in `state` has not received a gradient yet).
  /// @throws DataError for a missing entry or a shape/dtype mismatch, before changing anything.
  void load_state(const std::map<std::string, Tensor>& state, const std::vector<Variable>& vars);

 protected:
  Optimizer(std::string name, LearningRate learning_rate, std::vector<std::string> slot_names);

  /// Called once per successful apply_gradients, before the updates.
  virtual void prepare() {}
  /// var <- update(var, grad) for a dense gradient, one fused pass.
  virtual void apply_dense(const Tensor& grad, Variable& var, double lr) = 0;
  /// The same for IndexedSlices (already validated).
  virtual void apply_sparse(const IndexedSlices& grad, Variable& var, double lr) = 0;
  /// Called once per successful apply_gradients, after the updates.
  virtual void finish() {}
  /// Optimizer-wide scalars to checkpoint (Adam's beta powers).
  virtual std::map<std::string, double> scalars() const { return {}; }
  /// Every name `scalars()` may hold.
  virtual std::vector<std::string> scalar_names() const { return {}; }
  virtual void load_scalars(const std::map<std::string, double>&) {}

  /// The zero-initialised slot `name` of `var`, created on first use.
  Variable& slot(const Variable& var, const std::string& name);

 private:
  GradsAndVars compute_with_tape(class GradientTape& tape, const Tensor& loss,
                                 const std::vector<Variable>& vars,
                                 const std::optional<Tensor>& grad_loss);
  std::vector<Variable> resolve_var_list(std::vector<Variable> var_list) const;
  void apply(GradsAndVars grads_and_vars, Variable* global_step, bool from_minimize);

  std::string name_;
  LearningRate learning_rate_;
  std::vector<std::string> slot_names_;
  struct SlotSet {
    Variable var;  // keeps the key alive
    std::map<std::string, Variable> slots;
  };
  std::map<const void*, SlotSet> slots_;
  std::int64_t iterations_ = 0;
  clip::Stage stage_;
};

/// Sums the rows of duplicate indices (TF's _apply_sparse_duplicate_indices):
/// the result has each index once, in first-seen order.
IndexedSlices merge_duplicates(const IndexedSlices& slices);

}  // namespace tapeflow
