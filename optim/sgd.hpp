// TF's GradientDescentOptimizer.
#pragma once
#include "tapeflow/optim/optimizer.hpp"

namespace tapeflow {

/// var <- var - lr * g. Sparse: scatter-subtract of each row (duplicates accumulate).
class SGD final : public Optimizer {
 public:
  /// @throws InvalidArgumentError ("learning_rate") for a negative or non-finite rate.
  explicit SGD(LearningRate learning_rate);

 private:
  void apply_dense(const Tensor& grad, Variable& var) override;
  void apply_sparse(const IndexedSlices& grad, Variable& var) override;
};

}  // namespace tapeflow
