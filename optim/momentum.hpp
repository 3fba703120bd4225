// TF's MomentumOptimizer, with Nesterov's variant as TF's kernel computes it.
#pragma once
#include "tapeflow/optim/optimizer.hpp"

namespace tapeflow {

/// a <- momentum * a + g; var <- var - lr * a, or with use_nesterov
/// var <- var - (lr * g + lr * momentum * a) using the new a. Slot "momentum".
/// Sparse: duplicates merged, then only the indexed rows of a and var change.
class Momentum final : public Optimizer {
 public:
  /// @throws InvalidArgumentError ("learning_rate", "momentum") for a bad value.
  Momentum(LearningRate learning_rate, double momentum, bool use_nesterov = false);

 private:
  void apply_dense(const Tensor& grad, Variable& var, double lr) override;
  void apply_sparse(const IndexedSlices& grad, Variable& var, double lr) override;
  double momentum_;
  bool nesterov_;
};

}  // namespace tapeflow
