// GradientTape: records the ops run while it is active and differentiates them.
#pragma once
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "tapeflow/autograd/gradient.hpp"
#include "tapeflow/autograd/variable.hpp"

namespace tapeflow {

/// What a source with no path to the target receives (TF's UnconnectedGradients).
enum class UnconnectedGradients { none, zero };

/// Inputs of a backward rule: the op's inputs and output, and the gradient
/// arriving at the output.
struct BackwardArgs {
  const std::vector<Tensor>& in;
  const Tensor& out;
  const Tensor& grad;
  /// needed[k]: whether the tape wants input k's gradient (it watches it).
  /// Expensive rules skip the others (conv2d's input gradient for the images,
  /// say) and return none there; cheap ones may ignore it.
  const std::vector<bool>& needed;
};
/// Returns one gradient per input, in input order, each shaped like its input
/// (none for inputs that are not differentiable, such as integer labels).
using BackwardFn = std::function<std::vector<Gradient>(const BackwardArgs&)>;

/// A Wengert list. While a tape is alive (RAII scope) every op whose inputs it
/// watches appends one entry; `gradient` walks the entries once in reverse.
/// Trainable variables are watched on first use; other tensors through `watch`.
/// Tapes are thread-local: ops on one thread never record on another's tape.
class GradientTape {
 public:
  /// A non-persistent tape frees its entries during its one `gradient` call.
  explicit GradientTape(bool persistent = false);
  ~GradientTape();
  GradientTape(const GradientTape&) = delete;
  GradientTape& operator=(const GradientTape&) = delete;

  void watch(const Tensor& t);
  void watch(const Variable& v) { watch(v.value()); }
  std::size_t size() const { return entries_.size(); }
  /// The names of the recorded ops, in recording order (for error reports).
  std::vector<std::string> op_names() const;

  /// The vector-Jacobian product of `target` with `output_gradients` (ones of
  /// the target's shape when omitted, also for a non-scalar target), for each
  /// source. @throws InvalidArgumentError when a non-persistent tape is reused,
  /// ShapeError / DTypeError for `output_gradients` that do not match `target`.
  ///
  /// `on_ready`, when given, is called once per source, in the order the
  /// sources' gradients become final: first those with no path to the target,
  /// then each as soon as the sweep has passed the first op that used it (see
  /// GradientReadyFn). It receives what `gradient` will return for that source.
  std::vector<Gradient> gradient(const Tensor& target, const std::vector<Tensor>& sources,
                                 const std::optional<Tensor>& output_gradients = std::nullopt,
                                 UnconnectedGradients unconnected = UnconnectedGradients::none,
                                 const GradientReadyFn& on_ready = {});
  std::vector<Gradient> gradient(const Tensor& target, const std::vector<Variable>& sources,
                                 const std::optional<Tensor>& output_gradients = std::nullopt,
                                 UnconnectedGradients unconnected = UnconnectedGradients::none,
                                 const GradientReadyFn& on_ready = {});
  /// `tape.gradient(y, {w, b})` with Variables or with Tensors.
  std::vector<Gradient> gradient(const Tensor& target, std::initializer_list<Variable> sources,
                                 const std::optional<Tensor>& output_gradients = std::nullopt,
                                 UnconnectedGradients unconnected = UnconnectedGradients::none);
  std::vector<Gradient> gradient(const Tensor& target, std::initializer_list<Tensor> sources,
                                 const std::optional<Tensor>& output_gradients = std::nullopt,
                                 UnconnectedGradients unconnected = UnconnectedGradients::none);
  Gradient gradient(const Tensor& target, const Tensor& source,
                    const std::optional<Tensor>& output_gradients = std::nullopt,
                    UnconnectedGradients unconnected = UnconnectedGradients::none);

  /// The innermost active tape of this thread that watches `t`, or nullptr.
  static GradientTape* recording(const Tensor& t);

  /// Internal: called by every op. Appends an entry to each active tape that
  /// watches one of `inputs`, and returns `out`. Costs one check when no tape is active.
  static Tensor record(const char* op, Tensor out, std::vector<Tensor> inputs, BackwardFn backward);

 private:
  struct Entry {
    const char* op;
    std::vector<Tensor> inputs;
    Tensor output;
    BackwardFn backward;
  };
  using GradientMap = std::unordered_map<std::uint64_t, Gradient>;
  bool watches(const Tensor& t) const;
  /// Runs one entry's backward rule with its output's gradient `g` and adds
  /// the results to the gradients of the inputs the tape watches.
  void backprop(Entry& e, const Gradient& g, GradientMap& grads) const;
  bool persistent_;
  bool used_ = false;
  std::vector<Entry> entries_;
  std::unordered_set<std::uint64_t> watched_;
};

/// While alive, no tape on this thread records (TF's tape.stop_recording()).
class NoRecordScope {
 public:
  NoRecordScope();
  ~NoRecordScope();
  NoRecordScope(const NoRecordScope&) = delete;
  NoRecordScope& operator=(const NoRecordScope&) = delete;
};

}  // namespace tapeflow
