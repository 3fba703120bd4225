// TF's MomentumOptimizer, with Nesterov's variant as TF's kernel computes it.
#pragma once
#include "tapeflow/optim/optimizer.hpp"

namespace tapeflow {

/// Momentum's settings, written like LibTorch's:
/// `MomentumOptions(0.01).momentum(0.9).use_nesterov(true)`.
class MomentumOptions {
 public:
  MomentumOptions(LearningRate learning_rate)  // NOLINT: implicit, like AdamOptions
      : learning_rate_(std::move(learning_rate)) {}

  MomentumOptions& learning_rate(LearningRate v) { return learning_rate_ = std::move(v), *this; }
  /// No default, as in TF: set it.
  MomentumOptions& momentum(double v) { return momentum_ = v, *this; }
  MomentumOptions& use_nesterov(bool v) { return use_nesterov_ = v, *this; }

  const LearningRate& learning_rate() const { return learning_rate_; }
  double momentum() const { return momentum_; }
  bool use_nesterov() const { return use_nesterov_; }

 private:
  LearningRate learning_rate_;
  double momentum_ = -1;  // unset: the constructor rejects it, naming the field
  bool use_nesterov_ = false;
};

/// a <- momentum * a + g; var <- var - lr * a, or with use_nesterov
/// var <- var - (lr * g + lr * momentum * a) using the new a. Slot "momentum".
/// Sparse: duplicates merged, then only the indexed rows of a and var change.
/// docs/semantics.md §7.
class Momentum final : public Optimizer {
 public:
  /// @throws InvalidArgumentError ("learning_rate", "momentum") for a bad value.
  explicit Momentum(const MomentumOptions& options);
  Momentum(LearningRate learning_rate, double momentum, bool use_nesterov = false);

 private:
  void apply_dense(const Tensor& grad, Variable& var) override;
  void apply_sparse(const IndexedSlices& grad, Variable& var) override;
  double momentum_;
  bool nesterov_;
};

}  // namespace tapeflow
