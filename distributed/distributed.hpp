// Data-parallel training over MPI (OpenMPI from Debian), the way Horovod and
// PyTorch's DDP do it: every rank computes gradients on its own shard of the
// batch, the gradients are averaged with collectives, and every rank applies
// the same update. Part of the separate target tapeflow::mpi (built when MPI
// is found). docs/scaling.md has the measurements and what they predict.
#pragma once
#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "tapeflow/optim/optimizer.hpp"

namespace tapeflow {
namespace mpi {

/// Initialises MPI for the life of the object (unless the program already
/// did) and makes MPI_COMM_WORLD return errors instead of aborting, so that
/// tapeflow can report them as CommunicationError. The destructor finalises
/// MPI; if it runs because an exception is leaving the scope, it calls
/// MPI_Abort instead, so the other ranks stop rather than wait for this one.
///
///     int main(int argc, char** argv) { tapeflow::mpi::Environment env(argc, argv); ... }
class Environment {
 public:
  Environment(int& argc, char**& argv);
  ~Environment();
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

 private:
  bool owns_ = false;
};

/// This process's rank, the number of ranks, and whether this is rank 0.
/// @throws InvalidArgumentError when MPI is not initialised (create an
/// Environment first): a forgotten init would otherwise make every process
/// of an mpirun job train alone, each believing it is rank 0.
int rank(MPI_Comm comm = MPI_COMM_WORLD);
int size(MPI_Comm comm = MPI_COMM_WORLD);
bool is_root(MPI_Comm comm = MPI_COMM_WORLD);

/// Ends every rank of `comm` now (MPI_Abort): what a rank that cannot go on
/// calls so that the others do not wait for it.
[[noreturn]] void abort(int exit_code = 1, MPI_Comm comm = MPI_COMM_WORLD);

/// Element-wise sum over the ranks, in place (for metrics: correct counts,
/// loss sums). Waits at most `timeout_seconds` (0: no limit).
/// @throws CommunicationError.
void allreduce_sum(std::vector<double>& values, MPI_Comm comm = MPI_COMM_WORLD,
                   double timeout_seconds = 600);

}  // namespace mpi

/// How gradients travel (LibTorch style: `DistributedOptions().bucket_bytes(1 << 20)`).
struct DistributedOptions {
  DistributedOptions& comm(MPI_Comm c) { return comm_ = c, *this; }
  /// Gradients are packed into buckets of about this many bytes (a variable
  /// is never split; default 25 MiB, DDP's default), one allreduce per bucket.
  DistributedOptions& bucket_bytes(std::size_t b) { return bucket_bytes_ = b, *this; }
  /// Start a bucket's allreduce during the backward sweep as soon as its
  /// gradients are final (default), or only after the sweep. Same result, bit
  /// for bit: the buckets and the collectives are the same.
  DistributedOptions& overlap(bool on) { return overlap_ = on, *this; }
  /// Densify IndexedSlices and reduce them in the buckets (default: allgather
  /// their rows, after the buckets).
  DistributedOptions& sparse_as_dense(bool on) { return sparse_as_dense_ = on, *this; }
  /// A collective that has not completed after this many seconds raises
  /// CommunicationError (another rank died or stalled). 0: wait forever.
  DistributedOptions& timeout_seconds(double s) { return timeout_seconds_ = s, *this; }

  MPI_Comm comm_ = MPI_COMM_WORLD;
  std::size_t bucket_bytes_ = std::size_t{25} << 20;
  bool overlap_ = true;
  bool sparse_as_dense_ = false;
  double timeout_seconds_ = 600;
};

/// What the collectives cost, summed over the steps since the last reset.
struct CommunicationStats {
  std::int64_t steps = 0;
  std::int64_t buckets = 0;  ///< allreduces started
  std::int64_t bytes = 0;    ///< bucket bytes reduced (per rank, before the wire factor)
  double pack_seconds = 0;   ///< copying gradients into buckets (during the sweep)
  double wait_seconds = 0;   ///< blocked after the sweep until every bucket was reduced
  double check_seconds = 0;  ///< the per-step agreement check before the sweep
};

/// Averages each present gradient over the ranks: dense tensors through the
/// buckets (sum, then times 1 / size), IndexedSlices by allgathering rows and
/// indices in rank order with the values divided by size (or densified with
/// sparse_as_dense). Every rank must pass the same variables (same order,
/// shapes and dtypes) with the same kinds of gradient; a rank whose list or
/// gradient kinds differ (a gradient none on some ranks only) makes every
/// rank raise InvalidArgumentError naming the variables, instead of hanging.
/// @throws CommunicationError on an MPI failure or timeout.
GradsAndVars allreduce_gradients(GradsAndVars grads_and_vars,
                                 const DistributedOptions& options = {});
GradsAndVars allreduce_gradients(GradsAndVars grads_and_vars, MPI_Comm comm,
                                 bool sparse_as_dense = false);

/// Copies the values of rank `root` into every rank's variables (call once,
/// after building or restoring the model, so that all ranks start alike).
void broadcast_variables(const std::vector<Variable>& variables, int root = 0,
                         MPI_Comm comm = MPI_COMM_WORLD, double timeout_seconds = 600);

/// A checksum (CRC-32) of the variables' bytes, and whether every rank of
/// `comm` holds the same one: a cheap proof that the ranks have not drifted.
struct VariablesDigest {
  std::uint32_t crc = 0;
  bool identical_on_all_ranks = false;
};
VariablesDigest digest_variables(const std::vector<Variable>& variables,
                                 MPI_Comm comm = MPI_COMM_WORLD, double timeout_seconds = 600);

/// Wraps an optimizer for data-parallel training. compute_gradients runs the
/// inner optimizer's sweep with a hook: as soon as the gradients of a bucket
/// are final, the bucket's allreduce starts (overlap), and the call returns
/// the averaged gradients; apply_gradients delegates, so the inner
/// optimizer's clipping stage sees the averaged gradients and every rank
/// clips by the same global norm (docs/semantics.md §4).
///
/// Buckets hold the variables in reverse var_list order (the last layers'
/// gradients are final first); each step costs one small agreement check
/// plus one allreduce per bucket (and allgathers for IndexedSlices).
class DistributedOptimizer {
 public:
  explicit DistributedOptimizer(Optimizer& inner, const DistributedOptions& options = {});
  DistributedOptimizer(Optimizer& inner, MPI_Comm comm, bool sparse_as_dense = false);
  ~DistributedOptimizer();
  DistributedOptimizer(const DistributedOptimizer&) = delete;
  DistributedOptimizer& operator=(const DistributedOptimizer&) = delete;

  GradsAndVars compute_gradients(const std::function<Tensor()>& loss_fn,
                                 std::vector<Variable> var_list = {},
                                 const std::optional<Tensor>& grad_loss = std::nullopt);
  /// The same, with this rank's loss.
  GradientsAndLoss compute_gradients_and_loss(
      const std::function<Tensor()>& loss_fn, std::vector<Variable> var_list = {},
      const std::optional<Tensor>& grad_loss = std::nullopt);
  void apply_gradients(GradsAndVars grads_and_vars, Variable* global_step = nullptr);
  void minimize(const std::function<Tensor()>& loss_fn, Variable* global_step = nullptr,
                std::vector<Variable> var_list = {},
                const std::optional<Tensor>& grad_loss = std::nullopt);

  Optimizer& inner() { return inner_; }
  int rank() const { return rank_; }
  int size() const { return size_; }
  const DistributedOptions& options() const { return options_; }
  const CommunicationStats& stats() const;
  void reset_stats();

 private:
  Optimizer& inner_;
  DistributedOptions options_;
  int rank_ = 0, size_ = 1;
  std::unique_ptr<class GradientReducer> reducer_;
};

}  // namespace tapeflow
