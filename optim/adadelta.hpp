// TF 1.x's AdadeltaOptimizer.
#pragma once
#include "tapeflow/optim/optimizer.hpp"

namespace tapeflow {

/// TF1's ApplyAdadelta (docs/semantics.md §11), Zeiler 2012:
///   accum <- rho accum + (1 - rho) g^2
///   update = sqrt(accum_update + epsilon) / sqrt(accum + epsilon) g
///   accum_update <- rho accum_update + (1 - rho) update^2;   var <- var - lr update
/// Slots "accum", "accum_update" (zeros). TF1's default learning rate is
/// 0.001 (the paper uses 1.0). Sparse: only the indexed rows change.
class Adadelta final : public Optimizer {
 public:
  /// @throws InvalidArgumentError naming learning_rate, rho (in [0, 1]) or epsilon (>= 0).
  explicit Adadelta(LearningRate learning_rate = 0.001, double rho = 0.95, double epsilon = 1e-8);

 private:
  void apply_dense(const Tensor& grad, Variable& var) override;
  void apply_sparse(const IndexedSlices& grad, Variable& var) override;
  template <class T>
  void rows(Variable& var, std::size_t at, const T* g, std::size_t n);
  double rho_, epsilon_;
};

}  // namespace tapeflow
