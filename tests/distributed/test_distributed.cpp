// Run under `mpirun -np 2`: data-parallel training agrees with one process.
// Each check compares with a value computed independently on every rank.
#include <mpi.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <tapeflow/distributed/distributed.hpp>
#include <tapeflow/tapeflow.hpp>

using namespace tapeflow;

namespace {
int failures = 0;
int rank = 0;
void expect(bool ok, const std::string& what) {
  if (!ok) {
    ++failures;
    std::fprintf(stderr, "rank %d: FAILED: %s\n", rank, what.c_str());
  }
}
bool close(const std::vector<double>& a, const std::vector<double>& b, double tol = 1e-12) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::abs(a[i] - b[i]) > tol) return false;
  }
  return true;
}
Tensor f64(std::vector<double> v, Shape s) { return Tensor::from_vector(v, s); }
}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const double r = rank;

  {  // broadcast_variables: everyone ends with rank 0's values.
    Variable w(f64({r, r + 1}, {2}), "bw");
    broadcast_variables({w});
    expect(close(w.value().to_vector(), {0, 1}), "broadcast_variables copies rank 0's values");
  }
  {  // Dense: the mean over ranks of d/dw sum(w * x_r) = x_r.
    Variable w(f64({1, 1}, {2}), "dw");
    SGD sgd(1.0);
    DistributedOptimizer opt(sgd);
    auto gv = opt.compute_gradients([&] { return reduce_sum(w * f64({r, 2 * r}, {2})); }, {w});
    const double mean = (size - 1) / 2.0;
    expect(close(gv[0].first.dense().to_vector(), {mean, 2 * mean}),
           "dense gradients are averaged");
  }
  {  // Sparse: every rank's rows, values / size, indices in rank order.
    Variable table(zeros({4, 1}, DType::float64), "table");
    SGD sgd(1.0);
    DistributedOptimizer opt(sgd);
    const Tensor idx = Tensor::from_vector(std::vector<std::int64_t>{rank % 4}, {1});
    auto gv = opt.compute_gradients([&] { return reduce_sum(gather(table, idx)); }, {table});
    expect(gv[0].first.is_sparse(), "IndexedSlices stay sparse");
    std::vector<double> want_idx, want_val;
    for (int q = 0; q < size; ++q) want_idx.push_back(q % 4), want_val.push_back(1.0 / size);
    expect(close(gv[0].first.sparse().indices.to_vector(), want_idx),
           "indices are allgathered in rank order");
    expect(close(gv[0].first.sparse().values.to_vector(), want_val),
           "values are divided by the rank count");
    DistributedOptimizer dense(sgd, MPI_COMM_WORLD, /*sparse_as_dense=*/true);
    auto gd = dense.compute_gradients([&] { return reduce_sum(gather(table, idx)); }, {table});
    expect(gd[0].first.is_dense(), "sparse_as_dense densifies");
  }
  {  // A gradient that is none on one rank only is an error everywhere, not a hang.
    Variable a(f64({1}, {1}), "only_on_rank0");
    SGD sgd(1.0);
    DistributedOptimizer opt(sgd);
    bool raised = false;
    try {
      opt.compute_gradients([&] { return rank == 0 ? a * 2.0 : Tensor(f64({1}, {1})) * 2.0; }, {a});
    } catch (const InvalidArgumentError& e) {
      raised = std::string(e.what()).find("only_on_rank0") != std::string::npos;
    }
    expect(size == 1 || raised, "a none-on-some-ranks gradient raises naming the variable");
  }
  {  // Training: 2 ranks on half batches = 1 process on the full batch, with clipping after the
     // average.
    const Tensor x = f64({1, 2, 3, 4, -1, 0.5, 2, -3}, {4, 2});
    const Tensor y = f64({1, -1, 2, 0}, {4, 1});
    auto train = [&](bool distributed) {
      Variable w(f64({0.1, -0.2}, {2, 1}), distributed ? "w_dist" : "w_local");
      Adam adam(AdamOptions{0.1});
      adam.set_clipping(clip::by_global_norm(0.5));
      DistributedOptimizer dist(adam);
      const std::size_t half = 4 / static_cast<std::size_t>(size);
      const Tensor xs =
          distributed ? slice(x, {static_cast<long>(rank * half), 0}, {static_cast<long>(half), 2})
                      : x;
      const Tensor ys =
          distributed ? slice(y, {static_cast<long>(rank * half), 0}, {static_cast<long>(half), 1})
                      : y;
      std::vector<double> norms;
      for (int step = 0; step < 5; ++step) {
        auto loss = [&] { return reduce_mean(square(matmul(xs, w) - ys)); };
        if (distributed) {
          dist.minimize(loss, nullptr, {w});
        } else {
          adam.minimize(loss, nullptr, {w});
        }
        norms.push_back(*adam.clip_report().global_norm);
      }
      return std::make_pair(w.value().to_vector(), norms);
    };
    const auto local = train(false);
    const auto dist = train(true);
    expect(close(local.first, dist.first, 1e-12),
           "distributed training equals full-batch training");
    expect(close(local.second, dist.second, 1e-12),
           "every rank clips by the global norm of the average");
  }

  int total = 0;
  MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0)
    std::printf("%s: %d ranks, %d failures\n", total ? "FAILED" : "passed", size, total);
  MPI_Finalize();
  return total ? 1 : 0;
}
