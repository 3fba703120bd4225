// TF 1.x's AdagradOptimizer.
#pragma once
#include "tapeflow/optim/optimizer.hpp"

namespace tapeflow {

/// acc <- acc + g^2; var <- var - lr g / sqrt(acc), with no epsilon (TF1's
/// ApplyAdagrad). Slot "accumulator", filled with initial_accumulator_value.
/// Sparse: only the indexed rows of var and acc change. docs/semantics.md §11.
class Adagrad final : public Optimizer {
 public:
  /// @throws InvalidArgumentError naming learning_rate or initial_accumulator_value
  /// (which must be > 0, as TF checks).
  explicit Adagrad(LearningRate learning_rate, double initial_accumulator_value = 0.1);

 private:
  double slot_initial_value(const std::string&) const override { return initial_; }
  void apply_dense(const Tensor& grad, Variable& var) override;
  void apply_sparse(const IndexedSlices& grad, Variable& var) override;
  double initial_;
};

}  // namespace tapeflow
