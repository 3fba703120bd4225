// The optimizer base: compute_gradients, apply_gradients (docs/semantics.md
// §5.2's order, all or nothing), minimize, slots, non-slot scalars and
// checkpointable state.
#include "tapeflow/optim/optimizer.hpp"

#include <algorithm>
#include <limits>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "tapeflow/autograd/tape.hpp"
#include "tapeflow/core/detail/tensor_impl.hpp"

namespace tapeflow {

Optimizer::Optimizer(std::string name, LearningRate learning_rate,
                     std::vector<std::string> slot_names)
    : name_(std::move(name)),
      learning_rate_(std::move(learning_rate)),
      slot_names_(std::move(slot_names)) {
  std::sort(slot_names_.begin(), slot_names_.end());
}

std::vector<Variable> Optimizer::resolve_var_list(std::vector<Variable> var_list) const {
  if (var_list.empty()) var_list = trainable_variables();
  if (var_list.empty()) {
    throw NoVariablesError(
        "compute_gradients: No variables to optimize (var_list is empty and no "
        "trainable variable exists)");
  }
  std::unordered_set<const void*> seen;
  for (const auto& v : var_list) {
    if (!seen.insert(v.key()).second) {
      throw InvalidArgumentError(fmt::format(
          "compute_gradients: var_list contains the duplicate variable '{}'", v.name()));
    }
    if (!v.trainable()) {
      throw InvalidArgumentError(
          fmt::format("compute_gradients: variable '{}' in var_list is not trainable", v.name()));
    }
  }
  return var_list;
}

GradsAndVars Optimizer::compute_with_tape(GradientTape& tape, const Tensor& loss,
                                          const std::vector<Variable>& vars,
                                          const std::optional<Tensor>& grad_loss,
                                          const GradientReadyFn& on_ready) {
  if (grad_loss) {
    if (grad_loss->shape() != loss.shape()) {
      throw ShapeError(fmt::format(
          "compute_gradients: grad_loss must have the loss's shape: loss is {}, grad_loss is {}",
          shape_str(loss.shape()), shape_str(grad_loss->shape())));
    }
    if (grad_loss->dtype() != loss.dtype()) {
      throw DTypeError(fmt::format(
          "compute_gradients: grad_loss must have the loss's dtype: loss is {}, grad_loss is {}",
          dtype_name(loss.dtype()), dtype_name(grad_loss->dtype())));
    }
  }
  std::vector<Gradient> grads =
      tape.gradient(loss, vars, grad_loss, UnconnectedGradients::none, on_ready);
  GradsAndVars out;
  out.reserve(vars.size());
  for (std::size_t i = 0; i < vars.size(); ++i) out.emplace_back(std::move(grads[i]), vars[i]);
  return out;
}

GradsAndVars Optimizer::compute_gradients(const std::function<Tensor()>& loss_fn,
                                          std::vector<Variable> var_list,
                                          const std::optional<Tensor>& grad_loss) {
  return compute_gradients_and_loss(loss_fn, std::move(var_list), grad_loss).grads_and_vars;
}

GradientsAndLoss Optimizer::compute_gradients_and_loss(const std::function<Tensor()>& loss_fn,
                                                       std::vector<Variable> var_list,
                                                       const std::optional<Tensor>& grad_loss,
                                                       const GradientReadyFn& on_ready) {
  const auto vars = resolve_var_list(std::move(var_list));
  GradientTape tape;
  for (const auto& v : vars) tape.watch(v);
  Tensor loss = loss_fn();
  GradsAndVars gv = compute_with_tape(tape, loss, vars, grad_loss, on_ready);
  return {std::move(gv), std::move(loss)};
}

GradsAndVars Optimizer::compute_gradients(const Tensor& loss, std::vector<Variable> var_list,
                                          const std::optional<Tensor>& grad_loss) {
  const auto vars = resolve_var_list(std::move(var_list));
  GradientTape* tape = GradientTape::recording(loss);
  if (!tape) {
    throw InvalidArgumentError(
        "compute_gradients: the loss was not recorded on an active GradientTape; compute it inside "
        "a GradientTape scope, or pass a callable that computes it");
  }
  return compute_with_tape(*tape, loss, vars, grad_loss);
}

namespace {
std::string quoted_names(const GradsAndVars& gv) {
  std::vector<std::string> names;
  for (const auto& [g, v] : gv) names.push_back(v.name());
  return fmt::format("['{}']", fmt::join(names, "', '"));
}

// Step 4 of §5.2: every present gradient must fit its variable.
void validate_pair(const Gradient& g, const Variable& v) {
  if (g.is_none()) return;
  if (g.dtype() != v.dtype()) {
    throw DTypeError(fmt::format(
        "apply_gradients: var and grad do not have the same dtype: var '{}' is {}, grad is {}",
        v.name(), dtype_name(v.dtype()), dtype_name(g.dtype())));
  }
  if (g.is_sparse()) {
    const IndexedSlices& s = g.sparse();
    if (s.dense_shape != v.shape()) {
      throw ShapeError(fmt::format(
          "apply_gradients: IndexedSlices dense_shape {} does not match the shape {} of var '{}'",
          shape_str(s.dense_shape), shape_str(v.shape()), v.name()));
    }
    s.validate(fmt::format("apply_gradients (var '{}')", v.name()).c_str());
  } else if (g.dense().shape() != v.shape()) {
    throw ShapeError(fmt::format(
        "apply_gradients: var and grad do not have the same shape: var '{}' is {}, grad is {}",
        v.name(), shape_str(v.shape()), shape_str(g.dense().shape())));
  }
}
}  // namespace

void Optimizer::apply_gradients(GradsAndVars grads_and_vars, Variable* global_step) {
  apply(std::move(grads_and_vars), global_step, false);
}

void Optimizer::apply(GradsAndVars gv, Variable* global_step, bool from_minimize) {
  // 1-4: validate everything before anything is written.
  if (gv.empty()) throw NoVariablesError("apply_gradients: No variables provided");
  std::unordered_set<const void*> seen;
  for (const auto& [g, v] : gv) {
    if (!seen.insert(v.key()).second) {
      throw InvalidArgumentError(fmt::format(
          "apply_gradients: grads_and_vars contains the duplicate variable '{}'", v.name()));
    }
  }
  if (std::all_of(gv.begin(), gv.end(), [](const auto& p) { return p.first.is_none(); })) {
    throw NoGradientsError(fmt::format(
        "{}: No gradients provided for any variable: {}. Check that the loss depends on them "
        "through differentiable ops{}",
        from_minimize ? "minimize" : "apply_gradients", quoted_names(gv),
        from_minimize ? " (the loss does not depend on any of these variables)" : ""));
  }
  for (const auto& [g, v] : gv) validate_pair(g, v);
  if (global_step && (global_step->dtype() != DType::int64 || global_step->value().rank() != 0)) {
    throw InvalidArgumentError(fmt::format(
        "apply_gradients: global_step must be an int64 scalar variable, got '{}' ({} {})",
        global_step->name(), dtype_name(global_step->dtype()), shape_str(global_step->shape())));
  }
  // The step this call is for: the global step before its increment, else iterations.
  const std::int64_t step =
      global_step ? global_step->value().data<std::int64_t>()[0] : iterations_;
  constexpr std::int64_t kLast = std::numeric_limits<std::int64_t>::max();
  if (step == kLast || iterations_ == kLast) {
    throw InvalidArgumentError(fmt::format(
        "apply_gradients: the {} is {}, the largest int64; one more step would overflow it",
        step == kLast ? "global step" : "iteration count", kLast));
  }
  // 5: non-finite policy and the clipping stage, still before any write.
  std::optional<GradsAndVars> staged = stage_.run(std::move(gv), step);
  if (!staged) return;                                     // policy `skip`: nothing at all changes
  for (const auto& [g, v] : *staged) validate_pair(g, v);  // a user transform may be wrong
  // 6: slots for the variables that have a gradient now, and the non-slot scalars.
  for (const auto& [g, v] : *staged) {
    if (g.is_none()) continue;
    for (const auto& name : slot_names_) slot(v, name);
  }
  for (auto& entry : non_slots_) {
    if (!entry.second.value) entry.second.value = entry.second.initial;
  }
  // 7-8: the learning rate of this step, read once, then the updates.
  lr_ = learning_rate_.at(step);
  prepare();
  for (auto& [g, v] : *staged) {
    if (g.is_none()) continue;
    if (g.is_sparse()) {
      apply_sparse(merge_duplicates(g.sparse()), v);
    } else {
      apply_dense(g.dense(), v);
    }
  }
  finish();
  // 9: counters.
  if (global_step) ++global_step->mutable_data<std::int64_t>()[0];
  ++iterations_;
  if (check_numerics_) {
    GradsAndVars updated;
    for (const auto& [g, v] : *staged) {
      if (!g.is_none()) updated.emplace_back(Gradient(v.value()), v);
    }
    const auto bad = clip::non_finite_variables(updated);
    if (!bad.empty()) {
      throw NonFiniteError(
          fmt::format("{}: variables ['{}'] hold inf or NaN after update {} (check_numerics is on)",
                      name_, fmt::join(bad, "', '"), iterations_));
    }
  }
}

void Optimizer::minimize(const std::function<Tensor()>& loss_fn, Variable* global_step,
                         std::vector<Variable> var_list, const std::optional<Tensor>& grad_loss) {
  apply(compute_gradients(loss_fn, std::move(var_list), grad_loss), global_step, true);
}

void Optimizer::minimize(const Tensor& loss, Variable* global_step, std::vector<Variable> var_list,
                         const std::optional<Tensor>& grad_loss) {
  apply(compute_gradients(loss, std::move(var_list), grad_loss), global_step, true);
}

Variable& Optimizer::slot(const Variable& var, const std::string& name) {
  auto [it, inserted] = slots_.try_emplace(var.key(), SlotSet{var, {}});
  auto& slots = it->second.slots;
  auto s = slots.find(name);
  if (s == slots.end()) {
    s = slots
            .emplace(name, Variable(full(var.shape(), slot_initial_value(name), var.dtype()),
                                    fmt::format("{}/{}/{}", var.name(), name_, name), false))
            .first;
  }
  return s->second;
}

std::optional<Tensor> Optimizer::get_slot(const Variable& var, const std::string& name) const {
  auto it = slots_.find(var.key());
  if (it == slots_.end()) return std::nullopt;
  auto s = it->second.slots.find(name);
  if (s == it->second.slots.end()) return std::nullopt;
  return s->second.value();
}

std::vector<std::string> Optimizer::get_slot_names() const { return slot_names_; }

void Optimizer::set_clipping(clip::GradientTransform transform, clip::NonFinite policy) {
  stage_ = clip::Stage(std::move(transform), policy);
}

void Optimizer::add_non_slot(const std::string& name, double initial) {
  non_slots_[name] = NonSlot{initial, std::nullopt};
}

double& Optimizer::non_slot(const std::string& name) {
  auto it = non_slots_.find(name);
  if (it == non_slots_.end() || !it->second.value) {
    throw InvalidArgumentError(
        fmt::format("{}: non-slot scalar '{}' was not declared or not created yet", name_, name));
  }
  return *it->second.value;
}

std::optional<double> Optimizer::get_non_slot(const std::string& name) const {
  auto it = non_slots_.find(name);
  return it == non_slots_.end() ? std::nullopt : it->second.value;
}

namespace {
Tensor encode_name(const std::string& name) {
  std::vector<std::int64_t> codes(name.begin(), name.end());
  return Tensor::from_vector(codes, {codes.size()});
}
std::string decode_name(const Tensor& t) {
  std::string out;
  if (t.dtype() != DType::int64 || t.rank() != 1) return "<not a name>";
  for (std::size_t i = 0; i < t.size(); ++i) {
    const std::int64_t c = t.data<std::int64_t>()[i];
    out.push_back(c > 31 && c < 127 ? static_cast<char>(c) : '?');
  }
  return out;
}
}  // namespace

NamedTensors Optimizer::state() const {
  NamedTensors out;
  for (const auto& [key, set] : slots_) {
    for (const auto& [name, var] : set.slots)
      out[fmt::format("{}/{}", set.var.name(), name)] = var.value();
  }
  out["type"] = encode_name(name_);
  out["iterations"] = Tensor(iterations_);
  for (const auto& [name, entry] : non_slots_) {
    if (entry.value) out[name] = Tensor(*entry.value);
  }
  return out;
}

void Optimizer::load_state(const NamedTensors& state, const std::vector<Variable>& vars) {
  // Validate everything first, then write: a bad entry changes nothing.
  auto type = state.find("type");
  if (type != state.end() && decode_name(type->second) != name_) {
    throw DataError(fmt::format(
        "restore_checkpoint: the checkpoint holds the state of a {} optimizer, not of this {}; "
        "restore it into a {}, or restore the variables alone",
        decode_name(type->second), name_, decode_name(type->second)));
  }
  auto get = [&](const std::string& n) -> const Tensor& {
    auto it = state.find(n);
    if (it == state.end())
      throw DataError(fmt::format("{}: optimizer state is missing '{}'", name_, n));
    return it->second;
  };
  const Tensor& iters = get("iterations");
  if (iters.dtype() != DType::int64 || iters.size() != 1 || iters.data<std::int64_t>()[0] < 0) {
    throw DataError(
        fmt::format("{}: optimizer state 'iterations' must be one int64 >= 0, got {} {}", name_,
                    dtype_name(iters.dtype()), shape_str(iters.shape())));
  }
  std::unordered_map<std::string, std::optional<double>> scalars;
  for (const auto& [n, entry] : non_slots_) {
    auto it = state.find(n);
    scalars[n] = std::nullopt;
    if (it == state.end()) continue;  // saved before the first step
    const Tensor& t = it->second;
    if (t.dtype() != DType::float64 || t.size() != 1) {
      throw DataError(fmt::format("{}: optimizer state '{}' must be one float64", name_, n));
    }
    scalars[n] = t.item();
  }
  std::set<std::string> var_names;
  for (const auto& v : vars) var_names.insert(v.name());
  for (const auto& [key, t] : state) {
    const auto slash = key.rfind('/');
    if (slash == std::string::npos || !var_names.count(key.substr(0, slash))) continue;
    const std::string slot_name = key.substr(slash + 1);
    if (!std::binary_search(slot_names_.begin(), slot_names_.end(), slot_name)) {
      throw DataError(fmt::format(
          "{}: the checkpoint has a slot '{}' that a {} optimizer does not use (it was saved by "
          "another optimizer type)",
          name_, key, name_));
    }
  }
  for (const auto& v : vars) {
    for (const auto& s : slot_names_) {
      auto it = state.find(fmt::format("{}/{}", v.name(), s));
      if (it == state.end()) continue;
      if (it->second.shape() != v.shape() || it->second.dtype() != v.dtype()) {
        throw DataError(fmt::format(
            "{}: slot '{}' is {} {} in the checkpoint but variable '{}' is {} {}", name_, it->first,
            dtype_name(it->second.dtype()), shape_str(it->second.shape()), v.name(),
            dtype_name(v.dtype()), shape_str(v.shape())));
      }
    }
  }
  iterations_ = iters.data<std::int64_t>()[0];
  for (auto& [n, entry] : non_slots_) entry.value = scalars[n];
  for (const auto& v : vars) {
    auto set = slots_.find(v.key());
    for (const auto& s : slot_names_) {
      auto it = state.find(fmt::format("{}/{}", v.name(), s));
      if (it != state.end()) {
        slot(v, s).assign(it->second);
      } else if (set != slots_.end()) {
        set->second.slots.erase(s);  // not in the checkpoint: created since, so it goes
      }
    }
  }
}

}  // namespace tapeflow
