// AdamW: Adam with decoupled weight decay (Loshchilov & Hutter), as Keras's
// and PyTorch's AdamW compute it.
#pragma once
#include <string>
#include <vector>

#include "tapeflow/optim/adam.hpp"

namespace tapeflow {

/// Before Adam's update of a variable (docs/semantics.md §8, epsilon hat and
/// shared beta powers included): var <- var - lr weight_decay var, with lr the
/// schedule's value for this step, not Adam's bias-corrected lr_t. (TF
/// contrib's AdamWOptimizer multiplied by weight_decay alone, so its users had
/// to decay weight_decay by hand.) Variables whose name contains one of
/// `exclude_from_weight_decay` (plain substrings, e.g. "bias") do not decay; a
/// variable whose gradient is none does not decay either. Sparse: only the
/// indexed rows decay, once each even when an index repeats (TF contrib's
/// form; Keras decays the whole variable), then Adam's sparse rule runs.
class AdamW final : public Adam {
 public:
  /// @throws InvalidArgumentError naming weight_decay (finite, >= 0) or an Adam field.
  AdamW(AdamOptions options, double weight_decay,
        std::vector<std::string> exclude_from_weight_decay = {});

  double weight_decay() const { return weight_decay_; }
  /// Whether `var` decays (its name matches none of the exclusions).
  bool decays(const Variable& var) const;

 private:
  void apply_dense(const Tensor& grad, Variable& var) override;
  void apply_sparse(const IndexedSlices& grad, Variable& var) override;
  double weight_decay_;
  std::vector<std::string> exclude_;
};

}  // namespace tapeflow
