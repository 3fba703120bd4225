// The tape: recording, and the reverse sweep that accumulates gradients.
#include "tapeflow/autograd/tape.hpp"

#include <algorithm>
#include <unordered_map>

#include "tapeflow/autograd/ops.hpp"
#include "tapeflow/core/detail/tensor_impl.hpp"

namespace tapeflow {
namespace {
struct ThreadState {
  std::vector<GradientTape*> active;  // innermost last
  int paused = 0;
};
thread_local ThreadState tls;

// Adds one more contribution to a tensor's gradient (docs/semantics.md §1.3): dense +
// dense is a sum, slices + slices concatenate, and a mix becomes dense.
void accumulate(Gradient& into, Gradient g) {
  if (into.is_none()) {
    into = std::move(g);
  } else if (into.is_sparse() && g.is_sparse()) {
    const auto& a = into.sparse();
    const auto& b = g.sparse();
    into = IndexedSlices{concat({a.values, b.values}, 0), concat({a.indices, b.indices}, 0),
                         a.dense_shape};
  } else {
    into = add(into.to_dense(), g.to_dense());
  }
}
}  // namespace

GradientTape::GradientTape(bool persistent) : persistent_(persistent) {
  tls.active.push_back(this);
}

GradientTape::~GradientTape() {
  auto& a = tls.active;
  a.erase(std::remove(a.begin(), a.end(), this), a.end());
}

NoRecordScope::NoRecordScope() { ++tls.paused; }
NoRecordScope::~NoRecordScope() { --tls.paused; }

bool GradientTape::watches(const Tensor& t) const {
  return t.impl()->watch_by_default || watched_.count(t.id()) != 0;
}

void GradientTape::watch(const Tensor& t) {
  if (!is_floating(t.dtype())) {
    throw DTypeError(
        fmt::format("GradientTape::watch: only float32/float64 tensors can be watched, got {}",
                    dtype_name(t.dtype())));
  }
  watched_.insert(t.id());
}

std::vector<std::string> GradientTape::op_names() const {
  std::vector<std::string> names;
  names.reserve(entries_.size());
  for (const auto& e : entries_) names.emplace_back(e.op ? e.op : "?");
  return names;
}

GradientTape* GradientTape::recording(const Tensor& t) {
  for (auto it = tls.active.rbegin(); it != tls.active.rend(); ++it) {
    if ((*it)->watched_.count(t.id())) return *it;
  }
  return nullptr;
}

Tensor GradientTape::record(const char* op, Tensor out, std::vector<Tensor> inputs,
                            BackwardFn backward) {
  if (tls.active.empty() || tls.paused) return out;
  for (GradientTape* tape : tls.active) {
    bool any = false;
    for (const Tensor& in : inputs) {
      if (tape->watches(in)) {
        any = true;
        tape->watched_.insert(in.id());
      }
    }
    if (!any) continue;
    tape->watched_.insert(out.id());
    if (tape == tls.active.back()) {
      tape->entries_.push_back({op, std::move(inputs), out, std::move(backward)});
      break;
    }
    tape->entries_.push_back({op, inputs, out, backward});
  }
  return out;
}

namespace {
// The gradient the sweep starts from: `output_gradients`, checked against the
// target, or ones of the target's shape (docs/semantics.md §1.1).
Tensor initial_gradient(const Tensor& target, const std::optional<Tensor>& output_gradients) {
  if (!is_floating(target.dtype())) {
    throw DTypeError(
        fmt::format("GradientTape::gradient: the target must be float32 or float64, got {}",
                    dtype_name(target.dtype())));
  }
  if (!output_gradients) return ones_like(target);
  const Tensor& og = *output_gradients;
  if (og.shape() != target.shape()) {
    throw ShapeError(fmt::format(
        "GradientTape::gradient: output_gradients must have the target's shape: target is {}, "
        "output_gradients is {}",
        shape_str(target.shape()), shape_str(og.shape())));
  }
  if (og.dtype() != target.dtype()) {
    throw DTypeError(fmt::format(
        "GradientTape::gradient: output_gradients must have the target's dtype: target is {}, "
        "output_gradients is {}",
        dtype_name(target.dtype()), dtype_name(og.dtype())));
  }
  return og;
}

// A backward rule must return one gradient per input, shaped and typed like it.
void check_rule_output(const char* op, const std::vector<Tensor>& inputs,
                       const std::vector<Gradient>& in_grads, const std::vector<bool>& needed) {
  if (in_grads.size() != inputs.size()) {
    throw Error(fmt::format("{}: backward rule returned {} gradients for {} inputs", op,
                            in_grads.size(), inputs.size()));
  }
  for (std::size_t k = 0; k < in_grads.size(); ++k) {
    if (in_grads[k].is_none() || !needed[k]) continue;
    if (in_grads[k].dense_shape() != inputs[k].shape() ||
        in_grads[k].dtype() != inputs[k].dtype()) {
      throw Error(fmt::format(
          "{}: backward rule returned a {} gradient of shape {} for input {} of shape {} and "
          "dtype {}",
          op, dtype_name(in_grads[k].dtype()), shape_str(in_grads[k].dense_shape()), k,
          shape_str(inputs[k].shape()), dtype_name(inputs[k].dtype())));
    }
  }
}
}  // namespace

void GradientTape::backprop(Entry& e, const Gradient& g, GradientMap& grads) const {
  std::vector<bool> needed(e.inputs.size());
  for (std::size_t k = 0; k < e.inputs.size(); ++k) {
    needed[k] = is_floating(e.inputs[k].dtype()) && watches(e.inputs[k]);
  }
  std::vector<Gradient> in_grads =
      e.backward(BackwardArgs{e.inputs, e.output, g.to_dense(), needed});
  check_rule_output(e.op, e.inputs, in_grads, needed);
  for (std::size_t k = 0; k < in_grads.size(); ++k) {
    if (!in_grads[k].is_none() && needed[k]) {
      accumulate(grads[e.inputs[k].id()], std::move(in_grads[k]));
    }
  }
}

std::vector<Gradient> GradientTape::gradient(const Tensor& target,
                                             const std::vector<Tensor>& sources,
                                             const std::optional<Tensor>& output_gradients,
                                             UnconnectedGradients unconnected,
                                             const GradientReadyFn& on_ready) {
  if (used_ && !persistent_) {
    throw InvalidArgumentError(
        "GradientTape::gradient: a non-persistent tape can only be used once; construct it with "
        "GradientTape(/*persistent=*/true) to call gradient more than once");
  }
  used_ = true;
  const Tensor initial = initial_gradient(target, output_gradients);

  NoRecordScope no_record;  // backward rules run ops; they must not record themselves
  std::unordered_set<std::uint64_t> keep;
  for (const Tensor& s : sources) keep.insert(s.id());
  GradientMap grads;
  grads.emplace(target.id(), Gradient(initial));

  std::vector<Gradient> out(sources.size());
  // What source k receives, once its gradient is final.
  auto result = [&](std::size_t k) {
    const Tensor& s = sources[k];
    auto it = grads.find(s.id());
    if (it != grads.end()) return it->second;
    if (unconnected == UnconnectedGradients::zero && is_floating(s.dtype()))
      return Gradient(zeros_like(s));
    return Gradient();
  };
  // With a hook: a source's gradient is final once the sweep has run the
  // first entry that reads it (every later contribution comes from a later
  // entry). ready_at[i] lists the sources that become final after entry i.
  std::unordered_map<std::size_t, std::vector<std::size_t>> ready_at;
  if (on_ready) {
    std::unordered_map<std::uint64_t, std::size_t> first_use;
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      for (const Tensor& in : entries_[i].inputs) {
        if (keep.count(in.id())) first_use.emplace(in.id(), i);
      }
    }
    for (std::size_t k = 0; k < sources.size(); ++k) {
      auto it = first_use.find(sources[k].id());
      if (it != first_use.end()) {
        ready_at[it->second].push_back(k);
      } else {  // never read by a recorded op: final before the sweep starts
        out[k] = result(k);
        on_ready(k, out[k]);
      }
    }
  }

  // One reverse pass. Every consumer of a tensor comes after its producer on
  // the tape, so when we reach the producer its gradient is complete; it is
  // handed to the rule and dropped (sources keep theirs).
  for (std::size_t i = entries_.size(); i-- > 0;) {
    Entry& e = entries_[i];
    auto it = grads.find(e.output.id());
    if (it != grads.end()) {
      const bool is_source = keep.count(it->first) > 0;
      const Gradient g = is_source ? it->second : std::move(it->second);
      if (!is_source) grads.erase(it);
      backprop(e, g, grads);
    }
    if (!persistent_) entries_[i] = Entry{};  // free inputs and outputs as we go
    if (on_ready) {
      auto ready = ready_at.find(i);
      if (ready == ready_at.end()) continue;
      for (std::size_t k : ready->second) {
        out[k] = result(k);
        on_ready(k, out[k]);
      }
    }
  }
  if (!persistent_) {
    entries_.clear();
    entries_.shrink_to_fit();
    watched_.clear();
  }
  if (!on_ready) {
    for (std::size_t k = 0; k < sources.size(); ++k) out[k] = result(k);
  }
  return out;
}

std::vector<Gradient> GradientTape::gradient(const Tensor& target,
                                             const std::vector<Variable>& sources,
                                             const std::optional<Tensor>& output_gradients,
                                             UnconnectedGradients unconnected,
                                             const GradientReadyFn& on_ready) {
  std::vector<Tensor> values;
  values.reserve(sources.size());
  for (const auto& v : sources) values.push_back(v.value());
  return gradient(target, values, output_gradients, unconnected, on_ready);
}

std::vector<Gradient> GradientTape::gradient(const Tensor& target,
                                             std::initializer_list<Variable> sources,
                                             const std::optional<Tensor>& output_gradients,
                                             UnconnectedGradients unconnected) {
  return gradient(target, std::vector<Variable>(sources), output_gradients, unconnected);
}

std::vector<Gradient> GradientTape::gradient(const Tensor& target,
                                             std::initializer_list<Tensor> sources,
                                             const std::optional<Tensor>& output_gradients,
                                             UnconnectedGradients unconnected) {
  return gradient(target, std::vector<Tensor>(sources), output_gradients, unconnected);
}

Gradient GradientTape::gradient(const Tensor& target, const Tensor& source,
                                const std::optional<Tensor>& output_gradients,
                                UnconnectedGradients unconnected) {
  return gradient(target, std::vector<Tensor>{source}, output_gradients, unconnected)[0];
}

}  // namespace tapeflow
