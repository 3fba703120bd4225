// TF 1.x's RMSPropOptimizer.
#pragma once
#include "tapeflow/optim/optimizer.hpp"

namespace tapeflow {

/// TF1's ApplyRMSProp / ApplyCenteredRMSProp (docs/semantics.md §11):
///   rms <- rms + (g^2 - rms)(1 - decay)
///   centered: mg <- mg + (g - mg)(1 - decay), denom = rms - mg^2; else denom = rms
///   mom <- momentum mom + lr g / sqrt(denom + epsilon);   var <- var - mom
/// Slots "rms" (starting at ones, TF1's choice; Keras and PyTorch start at
/// zero), "momentum", and "mg" when centered. The learning rate is folded into
/// the momentum slot, as TF's kernel does. Sparse: only the indexed rows change.
class RMSProp final : public Optimizer {
 public:
  /// @throws InvalidArgumentError naming learning_rate, decay (in [0, 1]),
  /// momentum (>= 0) or epsilon (>= 0).
  explicit RMSProp(LearningRate learning_rate, double decay = 0.9, double momentum = 0.0,
                   double epsilon = 1e-10, bool centered = false);

 private:
  double slot_initial_value(const std::string& name) const override {
    return name == "rms" ? 1.0 : 0.0;
  }
  void apply_dense(const Tensor& grad, Variable& var) override;
  void apply_sparse(const IndexedSlices& grad, Variable& var) override;
  template <class T>
  void rows(Variable& var, std::size_t at, const T* g, std::size_t n);
  double decay_, momentum_, epsilon_;
  bool centered_;
};

}  // namespace tapeflow
