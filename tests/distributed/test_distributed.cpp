// Run under `mpirun -np 2`: data-parallel training agrees with one process.
// Each check compares with a value computed independently on every rank.
#include <mpi.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <tapeflow/core/format.hpp>
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
  mpi::Environment env(argc, argv);
  int size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const double r = rank;
  expect(mpi::rank() == rank && mpi::size() == size && mpi::is_root() == (rank == 0),
         "mpi::rank, size and is_root agree with MPI");

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

  {  // Buckets: overlapped and blocking give the same bits, and equal the mean
     // of the ranks' own gradients computed here from an allgather.
    auto run = [&](bool overlap, CommunicationStats* stats) {
      Variable w1(f64({1, -2, 3, 0.5, 2, -1}, {3, 2}), "w1");
      Variable b1(Tensor::from_vector(std::vector<float>{0.1f, -0.3f}, {2}), "b1");
      Variable w2(f64({0.7, -1.1}, {2, 1}), "w2");
      Variable b2(f64({0.2}, {1}), "b2");
      SGD sgd(1.0);
      // float64 [3,2] = 48 bytes, float32 [2] = 8, float64 [2,1] = 16, [1] = 8.
      // Reverse order with 24-byte buckets: {b2, w2} (24), {b1} (dtype
      // changes), {w1} (48, alone): 3 buckets.
      DistributedOptimizer opt(sgd, DistributedOptions().bucket_bytes(24).overlap(overlap));
      const Tensor x = f64({r + 1, 2 - r, 0.5 * r, -1, 3, r}, {2, 3});
      auto gv = opt.compute_gradients(
          [&] {
            const Tensor h = tanh(matmul(x, w1) + convert(b1.value(), DType::float64) * 1.0);
            return reduce_sum(square(matmul(h, w2) + b2));
          },
          {w1, b1, w2, b2});
      if (stats) *stats = opt.stats();
      std::vector<std::vector<double>> out;
      for (const auto& [g, v] : gv)
        out.push_back(g.is_none() ? std::vector<double>{} : g.dense().to_vector());
      return out;
    };
    CommunicationStats stats;
    const auto overlapped = run(true, &stats);
    const auto blocking = run(false, nullptr);
    expect(overlapped == blocking, "overlapped and blocking allreduce give identical bits");
    expect(stats.steps == 1 && stats.buckets == 3,
           fmt::format("3 buckets for 24-byte buckets (got {} in {} steps)", stats.buckets,
                       stats.steps));
    expect(
        stats.bytes == (48 + 3 * 8) + (8 + 3 * 4) + (16 + 8 + 3 * 2 * 8),
        fmt::format("bucket bytes: gradients plus 3 counters per variable (got {})", stats.bytes));
    // The independent expectation: b1 is float32 and is not connected to the
    // float64 loss by a differentiable path (convert is not recorded), so it
    // must come back none on every rank; the others are averaged.
    expect(overlapped[1].empty(), "a gradient none on every rank stays none");
    // Each rank's local gradient, with a plain tape, gathered and averaged here.
    Variable w1(f64({1, -2, 3, 0.5, 2, -1}, {3, 2}), "w1c");
    Variable w2(f64({0.7, -1.1}, {2, 1}), "w2c");
    Variable b2(f64({0.2}, {1}), "b2c");
    const Tensor x = f64({r + 1, 2 - r, 0.5 * r, -1, 3, r}, {2, 3});
    const Tensor b1c =
        convert(Tensor::from_vector(std::vector<float>{0.1f, -0.3f}, {2}), DType::float64);
    GradientTape tape;
    const Tensor h = tanh(matmul(x, w1) + b1c * 1.0);
    const Tensor loss = reduce_sum(square(matmul(h, w2) + b2));
    const auto local = tape.gradient(loss, std::vector<Variable>{w1, w2, b2});
    const std::size_t which[3] = {0, 2, 3};
    for (int i = 0; i < 3; ++i) {
      const auto mine = local[i].dense().to_vector();
      std::vector<double> all(mine.size() * static_cast<std::size_t>(size));
      MPI_Allgather(mine.data(), static_cast<int>(mine.size()), MPI_DOUBLE, all.data(),
                    static_cast<int>(mine.size()), MPI_DOUBLE, MPI_COMM_WORLD);
      std::vector<double> mean(mine.size(), 0.0);
      for (int q = 0; q < size; ++q)
        for (std::size_t e = 0; e < mine.size(); ++e) mean[e] += all[q * mine.size() + e];
      for (auto& m : mean) m *= 1.0 / size;
      // With 2 ranks the sum a + b has one rounding whatever the order: exact.
      expect(size == 2 ? overlapped[which[i]] == mean : close(overlapped[which[i]], mean, 1e-12),
             fmt::format("bucketed average of variable {} equals the mean of the ranks' own", i));
    }
  }
  {  // Lists that differ between ranks: every rank raises, naming the problem.
    Variable a(f64({1}, {1}), "a_list");
    Variable b(f64({1, 2}, {rank == 0 ? 2u : 1u, rank == 0 ? 1u : 2u}), "b_shape");
    SGD sgd(1.0);
    DistributedOptimizer opt(sgd);
    std::string message;
    try {
      if (rank == 0) {
        opt.compute_gradients([&] { return reduce_sum(a * 2.0); }, {a});
      } else {
        opt.compute_gradients([&] { return reduce_sum(a * 2.0) + reduce_sum(b); }, {a, b});
      }
    } catch (const InvalidArgumentError& e) {
      message = e.what();
    }
    expect(size == 1 || message.find("different lengths (1 to 2 variables)") != std::string::npos,
           "lists of different lengths raise on every rank: " + message);
    message.clear();
    try {
      opt.compute_gradients([&] { return reduce_sum(a * 2.0) + reduce_sum(b); }, {a, b});
    } catch (const InvalidArgumentError& e) {
      message = e.what();
    }
    expect(size == 1 || message.find("['b_shape'] have different shapes") != std::string::npos,
           "a variable shaped differently on one rank is named: " + message);
    // The optimizer is still usable after errors every rank met alike.
    auto gv = opt.compute_gradients([&] { return reduce_sum(a * (r + 1)); }, {a});
    expect(close(gv[0].first.dense().to_vector(), {(size + 1) / 2.0}),
           "the optimizer goes on after a rejected list");
  }
  {  // Sparse gradients, blocking mode: the same rows as the overlapped default.
    Variable table(zeros({4, 2}, DType::float64), "table2");
    SGD sgd(1.0);
    DistributedOptimizer blocking(sgd, DistributedOptions().overlap(false));
    DistributedOptimizer overlapped(sgd);
    const Tensor idx = Tensor::from_vector(std::vector<std::int64_t>{rank % 4, 3}, {2});
    auto loss = [&] { return reduce_sum(gather(table, idx) * (r + 1)); };
    auto a = blocking.compute_gradients(loss, {table});
    auto b = overlapped.compute_gradients(loss, {table});
    expect(a[0].first.is_sparse() && b[0].first.is_sparse() &&
               a[0].first.sparse().values.to_vector() == b[0].first.sparse().values.to_vector() &&
               a[0].first.sparse().indices.to_vector() == b[0].first.sparse().indices.to_vector(),
           "sparse gradients agree between blocking and overlapped");
  }
  {  // digest_variables: equal everywhere, then one rank drifts.
    Variable w(f64({1.5, 2.5}, {2}), "digest_w");
    const auto same = digest_variables({w});
    expect(same.identical_on_all_ranks, "identical variables give identical digests");
    if (rank == 1) w.assign(f64({1.5, 2.5000000001}, {2}));
    const auto drift = digest_variables({w});
    expect(size == 1 || !drift.identical_on_all_ranks, "one drifted rank is seen by every rank");
  }

  int total = 0;
  MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0)
    std::printf("%s: %d ranks, %d failures\n", total ? "FAILED" : "passed", size, total);
  return total ? 1 : 0;
}
