// TF 1.x's AdamOptimizer (and LazyAdam with lazy = true).
#pragma once
#include "tapeflow/optim/optimizer.hpp"

namespace tapeflow {

struct AdamOptions {
  LearningRate learning_rate = 0.001;
  double beta1 = 0.9;
  double beta2 = 0.999;
  /// TF1 placement ("epsilon hat"): added to sqrt(v), with the bias correction
  /// folded into the step size. PyTorch adds it to sqrt(v / (1 - beta2^t)).
  double epsilon = 1e-8;
  /// Sparse gradients update only the touched rows (TF contrib LazyAdamOptimizer).
  bool lazy = false;
};

/// Kingma & Ba, Algorithm 1 in the form of their section 2, as TF1 computes it:
/// lr_t = lr sqrt(1 - beta2^t) / (1 - beta1^t); m <- m + (g - m)(1 - beta1);
/// v <- v + (g^2 - v)(1 - beta2); var <- var - lr_t m / (sqrt(v) + epsilon).
/// beta1^t and beta2^t are shared by all variables and advance once per
/// apply_gradients call. Slots "m" and "v".
class Adam final : public Optimizer {
 public:
  /// @throws InvalidArgumentError naming the bad option.
  explicit Adam(AdamOptions options = {});
  explicit Adam(LearningRate learning_rate) : Adam(AdamOptions{std::move(learning_rate)}) {}

  double beta1_power() const { return beta1_power_; }
  double beta2_power() const { return beta2_power_; }

 private:
  void prepare() override;
  void apply_dense(const Tensor& grad, Variable& var, double lr) override;
  void apply_sparse(const IndexedSlices& grad, Variable& var, double lr) override;
  void finish() override;
  std::map<std::string, double> scalars() const override;
  std::vector<std::string> scalar_names() const override { return {"beta1_power", "beta2_power"}; }
  void load_scalars(const std::map<std::string, double>& s) override;

  AdamOptions opt_;
  bool started_ = false;  // beta powers exist after the first successful apply
  double beta1_power_ = 1.0;
  double beta2_power_ = 1.0;
};

}  // namespace tapeflow
