// The tape: recording, and the reverse sweep that accumulates gradients.
#include "tapeflow/autograd/tape.hpp"

#include <algorithm>
#include <unordered_map>

#include "tapeflow/core/detail/tensor_impl.hpp"
#include "tapeflow/autograd/ops.hpp"

namespace tapeflow {
namespace {
struct ThreadState {
  std::vector<GradientTape*> active;  // innermost last
  int paused = 0;
};
thread_local ThreadState tls;

// Adds one more contribution to a tensor's gradient (SEMANTICS §1.3): dense +
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

bool GradientTape::is_watched(const Tensor& t) const { return watches(t); }

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

std::vector<Gradient> GradientTape::gradient(const Tensor& target,
                                             const std::vector<Tensor>& sources,
                                             const std::optional<Tensor>& output_gradients,
                                             UnconnectedGradients unconnected) {
  if (used_ && !persistent_) {
    throw InvalidArgumentError(
        "GradientTape::gradient: a non-persistent tape can only be used once; construct it with "
        "GradientTape(/*persistent=*/true) to call gradient more than once");
  }
  used_ = true;
  if (!is_floating(target.dtype())) {
    throw DTypeError(
        fmt::format("GradientTape::gradient: the target must be float32 or float64, got {}",
                    dtype_name(target.dtype())));
  }
  Tensor initial;
  if (output_gradients) {
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
    initial = og;
  } else {
    initial = ones_like(target);
  }

  NoRecordScope no_record;  // backward rules run ops; they must not record themselves
  std::unordered_set<std::uint64_t> keep;
  for (const Tensor& s : sources) keep.insert(s.id());
  std::unordered_map<std::uint64_t, Gradient> grads;
  grads.emplace(target.id(), Gradient(initial));

  // One reverse pass. Every consumer of a tensor comes after its producer on
  // the tape, so when we reach the producer its gradient is complete; it is
  // handed to the rule and dropped (sources keep theirs).
  std::vector<bool> needed;
  for (std::size_t i = entries_.size(); i-- > 0;) {
    Entry& e = entries_[i];
    auto it = grads.find(e.output.id());
    if (it != grads.end()) {
      Gradient g = keep.count(it->first) ? it->second : std::move(it->second);
      if (!keep.count(it->first)) grads.erase(it);
      const Tensor dense_g = g.to_dense();
      needed.assign(e.inputs.size(), false);
      for (std::size_t k = 0; k < e.inputs.size(); ++k) {
        needed[k] = is_floating(e.inputs[k].dtype()) && watches(e.inputs[k]);
      }
      std::vector<Gradient> in_grads =
          e.backward(BackwardArgs{e.inputs, e.output, dense_g, needed});
      if (in_grads.size() != e.inputs.size()) {
        throw Error(fmt::format("{}: backward rule returned {} gradients for {} inputs", e.op,
                                in_grads.size(), e.inputs.size()));
      }
      for (std::size_t k = 0; k < in_grads.size(); ++k) {
        if (in_grads[k].is_none() || !needed[k]) continue;
        if (in_grads[k].dense_shape() != e.inputs[k].shape() ||
            in_grads[k].dtype() != e.inputs[k].dtype()) {
          throw Error(fmt::format(
              "{}: backward rule returned a {} gradient of shape {} for input {} "
              "of shape {} and dtype {}",
              e.op, dtype_name(in_grads[k].dtype()), shape_str(in_grads[k].dense_shape()), k,
              shape_str(e.inputs[k].shape()), dtype_name(e.inputs[k].dtype())));
        }
        accumulate(grads[e.inputs[k].id()], std::move(in_grads[k]));
      }
    }
    if (!persistent_) entries_[i] = Entry{};  // free inputs and outputs as we go
  }
  if (!persistent_) {
    entries_.clear();
    entries_.shrink_to_fit();
    watched_.clear();
  }

  std::vector<Gradient> out;
  out.reserve(sources.size());
  for (const Tensor& s : sources) {
    auto it = grads.find(s.id());
    if (it != grads.end()) {
      out.push_back(it->second);
    } else if (unconnected == UnconnectedGradients::zero && is_floating(s.dtype())) {
      out.emplace_back(zeros_like(s));
    } else {
      out.emplace_back();
    }
  }
  return out;
}

std::vector<Gradient> GradientTape::gradient(const Tensor& target,
                                             const std::vector<Variable>& sources,
                                             const std::optional<Tensor>& output_gradients,
                                             UnconnectedGradients unconnected) {
  std::vector<Tensor> values;
  values.reserve(sources.size());
  for (const auto& v : sources) values.push_back(v.value());
  return gradient(target, values, output_gradients, unconnected);
}

Gradient GradientTape::gradient(const Tensor& target, const Tensor& source,
                                const std::optional<Tensor>& output_gradients,
                                UnconnectedGradients unconnected) {
  return gradient(target, std::vector<Tensor>{source}, output_gradients, unconnected)[0];
}

}  // namespace tapeflow
