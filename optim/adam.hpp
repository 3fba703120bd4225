// TF 1.x's AdamOptimizer (and LazyAdam with lazy = true).
#pragma once
#include "tapeflow/optim/optimizer.hpp"

namespace tapeflow {

/// Adam's settings, written like LibTorch's: `AdamOptions(1e-3).beta1(0.5)`.
/// Each setter returns the options, each getter of the same name reads one.
class AdamOptions {
 public:
  AdamOptions(LearningRate learning_rate = 0.001)  // NOLINT: implicit, `Adam(1e-3)` reads naturally
      : learning_rate_(std::move(learning_rate)) {}

  AdamOptions& learning_rate(LearningRate v) { return learning_rate_ = std::move(v), *this; }
  AdamOptions& beta1(double v) { return beta1_ = v, *this; }
  AdamOptions& beta2(double v) { return beta2_ = v, *this; }
  /// TF1 placement ("epsilon hat"): added to sqrt(v), with the bias correction
  /// folded into the step size. PyTorch adds it to sqrt(v / (1 - beta2^t)).
  AdamOptions& epsilon(double v) { return epsilon_ = v, *this; }
  /// Sparse gradients update only the touched rows (TF contrib LazyAdamOptimizer).
  AdamOptions& lazy(bool v) { return lazy_ = v, *this; }

  const LearningRate& learning_rate() const { return learning_rate_; }
  double beta1() const { return beta1_; }
  double beta2() const { return beta2_; }
  double epsilon() const { return epsilon_; }
  bool lazy() const { return lazy_; }

 private:
  LearningRate learning_rate_;
  double beta1_ = 0.9;
  double beta2_ = 0.999;
  double epsilon_ = 1e-8;
  bool lazy_ = false;
};

/// Kingma & Ba, Algorithm 1 in the form of their section 2, as TF1 computes it:
/// lr_t = lr sqrt(1 - beta2^t) / (1 - beta1^t); m <- m + (g - m)(1 - beta1);
/// v <- v + (g^2 - v)(1 - beta2); var <- var - lr_t m / (sqrt(v) + epsilon).
/// beta1^t and beta2^t are non-slot scalars shared by all variables; they
/// advance once per apply_gradients call. Slots "m" and "v".
/// docs/semantics.md §8.
class Adam : public Optimizer {
 public:
  /// @throws InvalidArgumentError naming the bad option.
  explicit Adam(AdamOptions options = {});
  explicit Adam(LearningRate learning_rate) : Adam(AdamOptions(std::move(learning_rate))) {}

  /// beta1^t and beta2^t for the next call (1 before the first update).
  double beta1_power() const { return get_non_slot("beta1_power").value_or(1.0); }
  double beta2_power() const { return get_non_slot("beta2_power").value_or(1.0); }

 protected:
  /// For variants that keep Adam's update (AdamW): `name` is their own.
  Adam(std::string name, AdamOptions options);
  void prepare() override;
  void apply_dense(const Tensor& grad, Variable& var) override;
  void apply_sparse(const IndexedSlices& grad, Variable& var) override;
  void finish() override;

 private:
  AdamOptions opt_;
  double lr_t_ = 0.0;  // this call's bias-corrected step size
};

}  // namespace tapeflow
