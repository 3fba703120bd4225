// Data-parallel training over MPI (OpenMPI from Debian), Horovod's way:
// every rank computes gradients on its own part of the batch, the gradients
// are averaged with collectives, and every rank applies the same update.
// Part of the separate target tapeflow::mpi (built when MPI is found).
#pragma once
#include <mpi.h>

#include <functional>
#include <optional>
#include <vector>

#include "tapeflow/optim/optimizer.hpp"

namespace tapeflow {

/// Averages each present gradient over the ranks of `comm`: dense tensors by
/// allreduce (sum, then / size), IndexedSlices by allgathering values and
/// indices and dividing the values by size (or densified first when
/// `sparse_as_dense`). Every rank must pass the same variables with the same
/// kinds of gradient; a mismatch (a gradient that is none on some ranks only)
/// is detected and raised as InvalidArgumentError on every rank instead of
/// hanging the collective.
GradsAndVars allreduce_gradients(GradsAndVars grads_and_vars, MPI_Comm comm = MPI_COMM_WORLD,
                                 bool sparse_as_dense = false);

/// Copies the values of rank `root` into every rank's variables (call once,
/// after building the model, so that all ranks start from the same weights).
void broadcast_variables(const std::vector<Variable>& variables, int root = 0,
                         MPI_Comm comm = MPI_COMM_WORLD);

/// Wraps an optimizer: compute_gradients averages over ranks (after the inner
/// optimizer computed them), apply_gradients delegates, so the inner
/// optimizer's clipping stage sees the averaged gradients and every rank clips
/// by the same global norm (docs/semantics.md §4).
class DistributedOptimizer {
 public:
  explicit DistributedOptimizer(Optimizer& inner, MPI_Comm comm = MPI_COMM_WORLD,
                                bool sparse_as_dense = false);

  GradsAndVars compute_gradients(const std::function<Tensor()>& loss_fn,
                                 std::vector<Variable> var_list = {},
                                 const std::optional<Tensor>& grad_loss = std::nullopt);
  void apply_gradients(GradsAndVars grads_and_vars, Variable* global_step = nullptr);
  void minimize(const std::function<Tensor()>& loss_fn, Variable* global_step = nullptr,
                std::vector<Variable> var_list = {},
                const std::optional<Tensor>& grad_loss = std::nullopt);

  Optimizer& inner() { return inner_; }
  int rank() const { return rank_; }
  int size() const { return size_; }

 private:
  Optimizer& inner_;
  MPI_Comm comm_;
  bool sparse_as_dense_;
  int rank_ = 0, size_ = 1;
};

}  // namespace tapeflow
