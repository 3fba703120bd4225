// MPI collectives for data-parallel training (see distributed.hpp).
#include "tapeflow/distributed/distributed.hpp"

#include <cstring>

#include "tapeflow/core/detail/tensor_impl.hpp"

namespace tapeflow {
namespace {
template <class T>
MPI_Datatype mpi_type() {
  return std::is_same_v<T, float>    ? MPI_FLOAT
         : std::is_same_v<T, double> ? MPI_DOUBLE
                                     : MPI_INT64_T;
}

void check(int rc, const char* what) {
  if (rc != MPI_SUCCESS) throw Error(fmt::format("{}: MPI call failed with code {}", what, rc));
}

// 0 none, 1 dense, 2 sparse: ranks must agree position by position.
int kind_of(const Gradient& g) { return g.is_none() ? 0 : g.is_dense() ? 1 : 2; }

Tensor allreduce_mean(const Tensor& t, MPI_Comm comm, int size) {
  return detail::dispatch_float("allreduce_gradients", t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    detail::Array<T> a = detail::arr<T>(t);
    check(MPI_Allreduce(MPI_IN_PLACE, a.data(), static_cast<int>(a.size()), mpi_type<T>(), MPI_SUM,
                        comm),
          "allreduce_gradients");
    const T inv = T(1) / static_cast<T>(size);
    for (auto& x : a) x *= inv;
    return detail::make_tensor(std::move(a));
  });
}

// Concatenates every rank's rows (values / size) and indices, in rank order.
IndexedSlices allgather_slices(const IndexedSlices& s, MPI_Comm comm, int size) {
  const int n = static_cast<int>(s.indices.size());
  std::vector<int> counts(size), displs(size);
  check(MPI_Allgather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, comm), "allreduce_gradients");
  int total = 0;
  for (int r = 0; r < size; ++r) displs[r] = total, total += counts[r];
  const std::size_t row = n ? s.values.size() / static_cast<std::size_t>(n)
                            : shape_size(Shape(s.dense_shape.begin() + 1, s.dense_shape.end()));
  auto idx = detail::Array<std::int64_t>::from_shape({static_cast<std::size_t>(total)});
  check(MPI_Allgatherv(s.indices.data<std::int64_t>(), n, MPI_INT64_T, idx.data(), counts.data(),
                       displs.data(), MPI_INT64_T, comm),
        "allreduce_gradients");
  Tensor values = detail::dispatch_float("allreduce_gradients", s.values.dtype(), [&](auto tag) {
    using T = decltype(tag);
    Shape vs = s.values.shape();
    vs[0] = static_cast<std::size_t>(total);
    auto v = detail::Array<T>::from_shape(detail::xshape(vs));
    std::vector<int> vcounts(size), vdispls(size);
    for (int r = 0; r < size; ++r) {
      vcounts[r] = counts[r] * static_cast<int>(row);
      vdispls[r] = displs[r] * static_cast<int>(row);
    }
    check(MPI_Allgatherv(s.values.data<T>(), n * static_cast<int>(row), mpi_type<T>(), v.data(),
                         vcounts.data(), vdispls.data(), mpi_type<T>(), comm),
          "allreduce_gradients");
    const T inv = T(1) / static_cast<T>(size);
    for (auto& x : v) x *= inv;
    return detail::make_tensor(std::move(v));
  });
  return {values, detail::make_tensor(std::move(idx)), s.dense_shape};
}
}  // namespace

GradsAndVars allreduce_gradients(GradsAndVars gv, MPI_Comm comm, bool sparse_as_dense) {
  int size = 1;
  check(MPI_Comm_size(comm, &size), "allreduce_gradients");
  // Agree on the list first: a gradient that is none on some ranks only would
  // otherwise leave the others waiting in a collective forever.
  std::vector<int> mine(gv.size() + 1), lo(gv.size() + 1), hi(gv.size() + 1);
  mine[0] = static_cast<int>(gv.size());
  for (std::size_t i = 0; i < gv.size(); ++i)
    mine[i + 1] = sparse_as_dense && gv[i].first.is_sparse() ? 1 : kind_of(gv[i].first);
  const int len = static_cast<int>(mine.size());
  int max_len = len;
  check(MPI_Allreduce(&len, &max_len, 1, MPI_INT, MPI_MAX, comm), "allreduce_gradients");
  mine.resize(static_cast<std::size_t>(max_len), -1);
  lo.resize(mine.size());
  hi.resize(mine.size());
  check(MPI_Allreduce(mine.data(), lo.data(), max_len, MPI_INT, MPI_MIN, comm),
        "allreduce_gradients");
  check(MPI_Allreduce(mine.data(), hi.data(), max_len, MPI_INT, MPI_MAX, comm),
        "allreduce_gradients");
  if (lo[0] != hi[0]) {
    throw InvalidArgumentError(
        fmt::format("allreduce_gradients: ranks pass lists of different lengths ({} to {} pairs)",
                    lo[0], hi[0]));
  }
  std::vector<std::string> bad;
  for (std::size_t i = 0; i < gv.size(); ++i) {
    if (lo[i + 1] != hi[i + 1]) bad.push_back(gv[i].second.name());
  }
  if (!bad.empty()) {
    throw InvalidArgumentError(
        fmt::format("allreduce_gradients: the gradient of ['{}'] is none or sparse on some ranks "
                    "only; every rank must "
                    "compute gradients for the same variables",
                    fmt::join(bad, "', '")));
  }
  for (auto& [g, v] : gv) {
    if (g.is_none()) continue;
    if (g.is_sparse() && !sparse_as_dense) {
      g = allgather_slices(g.sparse(), comm, size);
    } else {
      g = allreduce_mean(g.to_dense(), comm, size);
    }
  }
  return gv;
}

void broadcast_variables(const std::vector<Variable>& variables, int root, MPI_Comm comm) {
  for (Variable v : variables) {
    detail::dispatch_any(v.dtype(), [&](auto tag) {
      using T = decltype(tag);
      check(MPI_Bcast(v.mutable_data<T>(), static_cast<int>(v.value().size()), mpi_type<T>(), root,
                      comm),
            "broadcast_variables");
    });
  }
}

DistributedOptimizer::DistributedOptimizer(Optimizer& inner, MPI_Comm comm, bool sparse_as_dense)
    : inner_(inner), comm_(comm), sparse_as_dense_(sparse_as_dense) {
  check(MPI_Comm_rank(comm, &rank_), "DistributedOptimizer");
  check(MPI_Comm_size(comm, &size_), "DistributedOptimizer");
}

GradsAndVars DistributedOptimizer::compute_gradients(const std::function<Tensor()>& loss_fn,
                                                     std::vector<Variable> var_list,
                                                     const std::optional<Tensor>& grad_loss) {
  return allreduce_gradients(inner_.compute_gradients(loss_fn, std::move(var_list), grad_loss),
                             comm_, sparse_as_dense_);
}

void DistributedOptimizer::apply_gradients(GradsAndVars gv, Variable* global_step) {
  inner_.apply_gradients(std::move(gv), global_step);
}

void DistributedOptimizer::minimize(const std::function<Tensor()>& loss_fn, Variable* global_step,
                                    std::vector<Variable> var_list,
                                    const std::optional<Tensor>& grad_loss) {
  apply_gradients(compute_gradients(loss_fn, std::move(var_list), grad_loss), global_step);
}

}  // namespace tapeflow
