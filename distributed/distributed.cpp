// MPI collectives for data-parallel training (see distributed.hpp): the
// bucketed, overlapped gradient allreduce, and the helpers around it.
#include "tapeflow/distributed/distributed.hpp"

#include <zlib.h>

#include <chrono>
#include <cstring>
#include <exception>
#include <thread>

#include "tapeflow/core/detail/tensor_impl.hpp"

namespace tapeflow {
namespace {
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

template <class T>
MPI_Datatype mpi_type() {
  return std::is_same_v<T, float>    ? MPI_FLOAT
         : std::is_same_v<T, double> ? MPI_DOUBLE
                                     : MPI_INT64_T;
}

std::size_t dtype_size(DType d) { return d == DType::float32 ? 4 : 8; }

MPI_Datatype mpi_type_of(DType d) {
  return detail::dispatch_any(d, [](auto tag) { return mpi_type<decltype(tag)>(); });
}

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {};
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw CommunicationError(fmt::format("{}: MPI call failed: {} (code {})", what, text, rc));
}

// Completes a non-blocking collective, or raises once `timeout` seconds pass.
// Every collective goes through here: a blocking MPI call cannot time out,
// and a rank that died or stalled must not leave the others waiting forever.
// OpenMPI progresses collectives only inside MPI calls, so this polls.
void wait(MPI_Request& request, double timeout, const std::string& what) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(timeout);
  for (unsigned spin = 0;; ++spin) {
    int done = 0;
    check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), what.c_str());
    if (done) return;
    if (spin % 1024 == 1023) {
      if (timeout > 0 && Clock::now() > deadline) {
        int rank = 0, size = 1;
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
        MPI_Comm_size(MPI_COMM_WORLD, &size);
        throw CommunicationError(fmt::format(
            "{}: not completed after {} s on rank {} of {}: another rank has died, stalled or "
            "stopped taking part (DistributedOptions::timeout_seconds sets the limit)",
            what, timeout, rank, size));
      }
      std::this_thread::yield();  // ranks may share cores (mpirun --oversubscribe)
    }
  }
}

bool initialized() {
  int flag = 0;
  MPI_Initialized(&flag);
  int finalized = 0;
  MPI_Finalized(&finalized);
  return flag && !finalized;
}

void require_initialized(const char* what) {
  if (!initialized()) {
    throw InvalidArgumentError(fmt::format(
        "{}: MPI is not initialised; create a tapeflow::mpi::Environment (or call MPI_Init) "
        "first",
        what));
  }
}

// FNV-1a over 64-bit words: the layout signature every rank must share.
struct Hash {
  std::uint64_t h = 1469598103934665603ULL;
  void add(std::uint64_t x) {
    for (int b = 0; b < 8; ++b) h = (h ^ ((x >> (8 * b)) & 0xff)) * 1099511628211ULL;
  }
  // 62 bits, so that -h fits an int64 (the check reduces h and -h with MAX).
  std::int64_t value() const { return static_cast<std::int64_t>(h >> 2); }
};

std::int64_t variable_signature(const Variable& v) {
  Hash h;
  h.add(static_cast<std::uint64_t>(v.dtype()));
  h.add(v.shape().size());
  for (auto d : v.shape()) h.add(d);
  return h.value();
}
}  // namespace

// --- mpi:: ---------------------------------------------------------------

namespace mpi {
Environment::Environment(int& argc, char**& argv) {
  if (!initialized()) {
    int provided = 0;
    check(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided), "mpi::Environment");
    owns_ = true;
  }
  check(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "mpi::Environment");
}

Environment::~Environment() {
  if (!owns_ || !initialized()) return;
  // Leaving on an exception: this rank cannot take part any more, and
  // MPI_Finalize would wait for ranks that wait for it.
  if (std::uncaught_exceptions() > 0) MPI_Abort(MPI_COMM_WORLD, 1);
  MPI_Finalize();
}

int rank(MPI_Comm comm) {
  require_initialized("mpi::rank");
  int r = 0;
  check(MPI_Comm_rank(comm, &r), "mpi::rank");
  return r;
}

int size(MPI_Comm comm) {
  require_initialized("mpi::size");
  int n = 1;
  check(MPI_Comm_size(comm, &n), "mpi::size");
  return n;
}

bool is_root(MPI_Comm comm) { return rank(comm) == 0; }

void abort(int exit_code, MPI_Comm comm) {
  std::fflush(stdout);
  std::fflush(stderr);
  MPI_Abort(comm, exit_code);
  std::_Exit(exit_code);  // MPI_Abort does not return; in case it does
}

void allreduce_sum(std::vector<double>& values, MPI_Comm comm, double timeout_seconds) {
  require_initialized("mpi::allreduce_sum");
  MPI_Request r;
  check(MPI_Iallreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()), MPI_DOUBLE,
                       MPI_SUM, comm, &r),
        "mpi::allreduce_sum");
  wait(r, timeout_seconds, "mpi::allreduce_sum");
}
}  // namespace mpi

// --- GradientReducer -----------------------------------------------------

// The buckets of one var_list, reused step after step while the list stays
// the same. A step is begin (agreement check), ready() once per variable as
// its gradient becomes final (packs it; starts every bucket that is complete
// and whose predecessors have started), and finish (starts the rest, waits,
// unpacks the averages, checks the gradient kinds).
//
// A bucket holds the gradients of its variables back to back, then three
// counters per variable: dense, sparse and mismatched. Summed over the ranks
// in the same allreduce, they tell every rank the same thing at no extra
// collective: a gradient none on some ranks only, or sparse on some and
// dense on others, is an error raised on every rank alike.
class GradientReducer {
 public:
  explicit GradientReducer(const DistributedOptions& o) : o_(o) {
    check(MPI_Comm_size(o.comm_, &size_), "DistributedOptimizer");
  }

  void begin(const std::vector<Variable>& vars) {
    if (in_flight_) {
      throw CommunicationError(
          "DistributedOptimizer: a previous step stopped with collectives in flight (an "
          "exception left compute_gradients); the ranks are out of step and cannot go on");
    }
    const auto t0 = Clock::now();
    if (!same_vars(vars)) build(vars);
    agree();
    for (auto& b : buckets_) {
      b.pending = b.vars.size();
      b.started = b.done = false;
    }
    next_start_ = 0;
    sparse_.assign(vars_.size(), std::nullopt);
    local_problem_.assign(vars_.size(), std::string());
    reported_.assign(vars_.size(), false);
    stats_.check_seconds += seconds_since(t0);
    in_flight_ = true;
  }

  // Gradient `k` of the var list is final: pack it, start what can start.
  void ready(std::size_t k, const Gradient& g, bool start) {
    const auto t0 = Clock::now();
    if (reported_[k]) return;
    reported_[k] = true;
    const Slot& s = slots_[k];
    Bucket& b = buckets_[s.bucket];
    pack(k, g, b, s);
    --b.pending;
    if (start) {
      start_ready_buckets();
      progress();
    }
    stats_.pack_seconds += seconds_since(t0);
  }

  // compute_gradients is leaving on an exception. If this rank started no
  // collective, it can go on (an error every rank meets alike, such as a bad
  // var_list, leaves them all in step); otherwise the next begin refuses.
  void abandon() {
    if (next_start_ == 0) in_flight_ = false;
  }

  GradsAndVars finish() {
    for (std::size_t k = 0; k < vars_.size(); ++k) {
      if (!reported_[k]) ready(k, Gradient(), false);  // the sweep never reported it: none
    }
    const auto t0 = Clock::now();
    start_ready_buckets();
    for (std::size_t i = 0; i < buckets_.size(); ++i) {
      Bucket& b = buckets_[i];
      wait(b.request, o_.timeout_seconds_,
           fmt::format("DistributedOptimizer: gradient allreduce (bucket {} of {}, {} bytes)",
                       i + 1, buckets_.size(), b.bytes()));
      b.done = true;
    }
    in_flight_ = false;
    stats_.wait_seconds += seconds_since(t0);
    ++stats_.steps;

    check_kinds();
    GradsAndVars out;
    out.reserve(vars_.size());
    for (std::size_t k = 0; k < vars_.size(); ++k) out.emplace_back(unpack(k), vars_[k]);
    // IndexedSlices: one allgather of counts, indices and values each, in
    // var_list order (every rank has the same sparse variables: checked).
    const auto t1 = Clock::now();
    for (std::size_t k = 0; k < vars_.size(); ++k) {
      if (sparse_count(k) > 0) out[k].first = allgather_slices(*sparse_[k], vars_[k]);
    }
    stats_.wait_seconds += seconds_since(t1);
    return out;
  }

  CommunicationStats stats_;

 private:
  struct Slot {
    std::size_t bucket = 0, offset = 0, numel = 0, flag = 0;  // offsets in elements
  };
  struct Bucket {
    DType dtype = DType::float32;
    std::vector<std::size_t> vars;
    std::size_t elements = 0;          // gradients + 3 counters per variable
    std::vector<std::uint64_t> store;  // 8-byte aligned storage for float or double
    MPI_Request request = MPI_REQUEST_NULL;
    std::size_t pending = 0;
    bool started = false, done = false;
    std::size_t bytes() const { return elements * dtype_size(dtype); }
    void* data() { return store.data(); }
  };

  bool same_vars(const std::vector<Variable>& vars) const {
    if (vars.size() != vars_.size()) return false;
    for (std::size_t k = 0; k < vars.size(); ++k) {
      if (vars[k].key() != vars_[k].key() || vars[k].shape() != vars_[k].shape() ||
          vars[k].dtype() != vars_[k].dtype())
        return false;
    }
    return true;
  }

  // Reverse var_list order; a new bucket when the dtype changes or the
  // next variable would take the bucket past bucket_bytes (a variable larger
  // than that gets a bucket of its own).
  void build(const std::vector<Variable>& vars) {
    vars_ = vars;
    buckets_.clear();
    slots_.assign(vars.size(), Slot{});
    std::size_t bucket_bytes = 0;
    for (std::size_t k = vars.size(); k-- > 0;) {
      const Variable& v = vars[k];
      if (!is_floating(v.dtype())) {
        throw DTypeError(fmt::format(
            "DistributedOptimizer: variable '{}' is {}; only float32/float64 variables have "
            "gradients to average",
            v.name(), dtype_name(v.dtype())));
      }
      const std::size_t bytes = v.value().size() * dtype_size(v.dtype());
      if (buckets_.empty() || buckets_.back().dtype != v.dtype() ||
          (bucket_bytes > 0 && bucket_bytes + bytes > o_.bucket_bytes_)) {
        buckets_.emplace_back();
        buckets_.back().dtype = v.dtype();
        bucket_bytes = 0;
      }
      Bucket& b = buckets_.back();
      slots_[k].bucket = buckets_.size() - 1;
      slots_[k].offset = b.elements;
      slots_[k].numel = v.value().size();
      b.elements += slots_[k].numel;
      b.vars.push_back(k);
      bucket_bytes += bytes;
    }
    for (auto& b : buckets_) {  // the counters go after the gradients
      for (std::size_t j = 0; j < b.vars.size(); ++j) slots_[b.vars[j]].flag = b.elements + 3 * j;
      b.elements += 3 * b.vars.size();
      b.store.assign((b.bytes() + 7) / 8, 0);
    }
  }

  // The one small collective per step: every rank must have the same list
  // (count, shapes and dtypes, bucket size, sparse handling), or the bucket
  // allreduces would not match. MAX over (x, -x) shows any disagreement.
  void agree() {
    Hash h;
    for (const auto& v : vars_) h.add(static_cast<std::uint64_t>(variable_signature(v)));
    h.add(o_.bucket_bytes_);
    h.add(o_.sparse_as_dense_);
    const auto n = static_cast<std::int64_t>(vars_.size());
    std::int64_t sig[4] = {n, -n, h.value(), -h.value()};
    MPI_Request r;
    check(MPI_Iallreduce(MPI_IN_PLACE, sig, 4, MPI_INT64_T, MPI_MAX, o_.comm_, &r),
          "DistributedOptimizer");
    wait(r, o_.timeout_seconds_, "DistributedOptimizer: agreement on the variable list");
    if (sig[0] != -sig[1]) {
      throw InvalidArgumentError(fmt::format(
          "DistributedOptimizer: ranks pass lists of different lengths ({} to {} variables); "
          "every rank must compute gradients for the same variables",
          -sig[1], sig[0]));
    }
    if (sig[2] == -sig[3]) return;
    // A disagreement: all ranks know it, so all can afford a second look to
    // name the variables.
    std::vector<std::int64_t> mine(vars_.size()), lo(vars_.size()), hi(vars_.size());
    for (std::size_t k = 0; k < vars_.size(); ++k) mine[k] = variable_signature(vars_[k]);
    const int count = static_cast<int>(mine.size());
    check(MPI_Iallreduce(mine.data(), lo.data(), count, MPI_INT64_T, MPI_MIN, o_.comm_, &r),
          "DistributedOptimizer");
    wait(r, o_.timeout_seconds_, "DistributedOptimizer: agreement on the variable list");
    check(MPI_Iallreduce(mine.data(), hi.data(), count, MPI_INT64_T, MPI_MAX, o_.comm_, &r),
          "DistributedOptimizer");
    wait(r, o_.timeout_seconds_, "DistributedOptimizer: agreement on the variable list");
    std::vector<std::string> bad;
    for (std::size_t k = 0; k < vars_.size(); ++k) {
      if (lo[k] != hi[k]) bad.push_back(vars_[k].name());
    }
    throw InvalidArgumentError(
        bad.empty()
            ? std::string("DistributedOptimizer: ranks were given different bucket_bytes or "
                          "sparse_as_dense options; every rank must use the same")
            : fmt::format("DistributedOptimizer: the variables ['{}'] have different shapes or "
                          "dtypes on different ranks",
                          fmt::join(bad, "', '")));
  }

  void pack(std::size_t k, const Gradient& g, Bucket& b, const Slot& s) {
    detail::dispatch_float("DistributedOptimizer", b.dtype, [&](auto tag) {
      using T = decltype(tag);
      T* dst = static_cast<T*>(b.data()) + s.offset;
      T* flag = static_cast<T*>(b.data()) + s.flag;
      flag[0] = flag[1] = flag[2] = T(0);
      const Variable& v = vars_[k];
      if (!g.is_none() && (g.dtype() != v.dtype() || g.dense_shape() != v.shape())) {
        local_problem_[k] = fmt::format("a {} gradient of shape {} for a {} variable of shape {}",
                                        dtype_name(g.dtype()), shape_str(g.dense_shape()),
                                        dtype_name(v.dtype()), shape_str(v.shape()));
        flag[2] = T(1);
        std::fill(dst, dst + s.numel, T(0));
      } else if (g.is_sparse() && !o_.sparse_as_dense_) {
        sparse_[k] = g.sparse();
        flag[1] = T(1);
        std::fill(dst, dst + s.numel, T(0));
      } else if (!g.is_none()) {
        const Tensor dense = g.to_dense();
        std::memcpy(dst, dense.data<T>(), s.numel * sizeof(T));
        flag[0] = T(1);
      } else {
        std::fill(dst, dst + s.numel, T(0));
      }
    });
  }

  // Buckets start in index order on every rank (non-blocking collectives
  // on one communicator must be started in the same order everywhere).
  void start_ready_buckets() {
    while (next_start_ < buckets_.size() && buckets_[next_start_].pending == 0) {
      Bucket& b = buckets_[next_start_];
      check(MPI_Iallreduce(MPI_IN_PLACE, b.data(), static_cast<int>(b.elements),
                           mpi_type_of(b.dtype), MPI_SUM, o_.comm_, &b.request),
            "DistributedOptimizer: gradient allreduce");
      b.started = true;
      ++stats_.buckets;
      stats_.bytes += static_cast<std::int64_t>(b.bytes());
      ++next_start_;
    }
  }

  // Lets MPI move the started collectives forward while the sweep goes on.
  void progress() {
    for (std::size_t i = 0; i < next_start_; ++i) {
      Bucket& b = buckets_[i];
      if (b.done) continue;
      int done = 0;
      check(MPI_Test(&b.request, &done, MPI_STATUS_IGNORE),
            "DistributedOptimizer: gradient allreduce");
      b.done = done != 0;
    }
  }

  double counter(std::size_t k, int which) {
    const Slot& s = slots_[k];
    Bucket& b = buckets_[s.bucket];
    return detail::dispatch_float("DistributedOptimizer", b.dtype, [&](auto tag) {
      using T = decltype(tag);
      return static_cast<double>(static_cast<T*>(b.data())[s.flag + which]);
    });
  }
  double dense_count(std::size_t k) { return counter(k, 0); }
  double sparse_count(std::size_t k) { return counter(k, 1); }

  void check_kinds() {
    const double n = size_;
    std::vector<std::string> mismatched, mixed;
    for (std::size_t k = 0; k < vars_.size(); ++k) {
      const double dense = dense_count(k), sparse = sparse_count(k), bad = counter(k, 2);
      if (bad > 0) {
        mismatched.push_back(
            local_problem_[k].empty()
                ? fmt::format("'{}' (on {} of {} ranks)", vars_[k].name(), bad, size_)
                : fmt::format("'{}' ({} here)", vars_[k].name(), local_problem_[k]));
      } else if ((dense != 0 && dense != n) || (sparse != 0 && sparse != n)) {
        mixed.push_back(vars_[k].name());
      }
    }
    if (!mismatched.empty()) {
      throw InvalidArgumentError(
          fmt::format("DistributedOptimizer: gradients that do not fit their variables: {}",
                      fmt::join(mismatched, ", ")));
    }
    if (!mixed.empty()) {
      throw InvalidArgumentError(fmt::format(
          "DistributedOptimizer: the gradient of ['{}'] is none or sparse on some ranks only; "
          "every rank must compute gradients for the same variables",
          fmt::join(mixed, "', '")));
    }
  }

  Gradient unpack(std::size_t k) {
    if (dense_count(k) == 0) return Gradient();  // none everywhere, or sparse (allgathered)
    const Slot& s = slots_[k];
    Bucket& b = buckets_[s.bucket];
    return detail::dispatch_float("DistributedOptimizer", b.dtype, [&](auto tag) -> Gradient {
      using T = decltype(tag);
      auto a = detail::Array<T>::from_shape(detail::xshape(vars_[k].shape()));
      const T* src = static_cast<const T*>(b.data()) + s.offset;
      const T inv = T(1) / static_cast<T>(size_);
      T* dst = a.data();
      for (std::size_t i = 0; i < s.numel; ++i) dst[i] = src[i] * inv;
      return Gradient(detail::make_tensor(std::move(a)));
    });
  }

  // Every rank's rows (values / size) and indices, concatenated in rank order.
  IndexedSlices allgather_slices(const IndexedSlices& s, const Variable& v) {
    const std::string what =
        fmt::format("DistributedOptimizer: allgather of the IndexedSlices of '{}'", v.name());
    const int n = static_cast<int>(s.indices.size());
    std::vector<int> counts(static_cast<std::size_t>(size_)),
        displs(static_cast<std::size_t>(size_));
    MPI_Request r;
    check(MPI_Iallgather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, o_.comm_, &r), what.c_str());
    wait(r, o_.timeout_seconds_, what);
    int total = 0;
    for (std::size_t i = 0; i < counts.size(); ++i) displs[i] = total, total += counts[i];
    const std::size_t row = shape_size(Shape(v.shape().begin() + 1, v.shape().end()));
    auto idx = detail::Array<std::int64_t>::from_shape({static_cast<std::size_t>(total)});
    check(MPI_Iallgatherv(s.indices.data<std::int64_t>(), n, MPI_INT64_T, idx.data(), counts.data(),
                          displs.data(), MPI_INT64_T, o_.comm_, &r),
          what.c_str());
    wait(r, o_.timeout_seconds_, what);
    Tensor values = detail::dispatch_float("DistributedOptimizer", v.dtype(), [&](auto tag) {
      using T = decltype(tag);
      Shape vs = v.shape();
      vs[0] = static_cast<std::size_t>(total);
      auto a = detail::Array<T>::from_shape(detail::xshape(vs));
      std::vector<int> vcounts(counts.size()), vdispls(counts.size());
      for (std::size_t i = 0; i < counts.size(); ++i) {
        vcounts[i] = counts[i] * static_cast<int>(row);
        vdispls[i] = displs[i] * static_cast<int>(row);
      }
      MPI_Request rv;
      check(MPI_Iallgatherv(s.values.data<T>(), n * static_cast<int>(row), mpi_type<T>(), a.data(),
                            vcounts.data(), vdispls.data(), mpi_type<T>(), o_.comm_, &rv),
            what.c_str());
      wait(rv, o_.timeout_seconds_, what);
      const T inv = T(1) / static_cast<T>(size_);
      for (auto& x : a) x *= inv;
      return detail::make_tensor(std::move(a));
    });
    return {values, detail::make_tensor(std::move(idx)), v.shape()};
  }

  DistributedOptions o_;
  int size_ = 1;
  std::vector<Variable> vars_;
  std::vector<Slot> slots_;
  std::vector<Bucket> buckets_;
  std::size_t next_start_ = 0;
  bool in_flight_ = false;
  std::vector<bool> reported_;
  std::vector<std::optional<IndexedSlices>> sparse_;
  std::vector<std::string> local_problem_;  // why a gradient did not fit, on this rank
};

// --- free functions ------------------------------------------------------

GradsAndVars allreduce_gradients(GradsAndVars gv, const DistributedOptions& options) {
  require_initialized("allreduce_gradients");
  std::vector<Variable> vars;
  vars.reserve(gv.size());
  for (const auto& p : gv) vars.push_back(p.second);
  GradientReducer reducer(options);
  reducer.begin(vars);
  for (std::size_t k = 0; k < gv.size(); ++k) reducer.ready(k, gv[k].first, false);
  return reducer.finish();
}

GradsAndVars allreduce_gradients(GradsAndVars gv, MPI_Comm comm, bool sparse_as_dense) {
  return allreduce_gradients(std::move(gv),
                             DistributedOptions().comm(comm).sparse_as_dense(sparse_as_dense));
}

void broadcast_variables(const std::vector<Variable>& variables, int root, MPI_Comm comm,
                         double timeout_seconds) {
  require_initialized("broadcast_variables");
  for (Variable v : variables) {
    detail::dispatch_any(v.dtype(), [&](auto tag) {
      using T = decltype(tag);
      MPI_Request r;
      check(MPI_Ibcast(v.mutable_data<T>(), static_cast<int>(v.value().size()), mpi_type<T>(), root,
                       comm, &r),
            "broadcast_variables");
      wait(r, timeout_seconds, fmt::format("broadcast_variables ('{}')", v.name()));
    });
  }
}

VariablesDigest digest_variables(const std::vector<Variable>& variables, MPI_Comm comm,
                                 double timeout_seconds) {
  require_initialized("digest_variables");
  uLong crc = crc32(0L, Z_NULL, 0);
  for (const auto& v : variables) {
    detail::dispatch_any(v.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const auto* bytes = reinterpret_cast<const Bytef*>(v.value().data<T>());
      crc = crc32(crc, bytes, static_cast<uInt>(v.value().size() * sizeof(T)));
    });
  }
  VariablesDigest d;
  d.crc = static_cast<std::uint32_t>(crc);
  std::int64_t range[2] = {d.crc, -static_cast<std::int64_t>(d.crc)};
  MPI_Request r;
  check(MPI_Iallreduce(MPI_IN_PLACE, range, 2, MPI_INT64_T, MPI_MAX, comm, &r), "digest_variables");
  wait(r, timeout_seconds, "digest_variables");
  d.identical_on_all_ranks = range[0] == -range[1];
  return d;
}

// --- DistributedOptimizer ------------------------------------------------

DistributedOptimizer::DistributedOptimizer(Optimizer& inner, const DistributedOptions& options)
    : inner_(inner), options_(options) {
  require_initialized("DistributedOptimizer");
  if (options.bucket_bytes_ == 0)
    throw InvalidArgumentError("DistributedOptimizer: bucket_bytes must be > 0, got 0");
  if (!(options.timeout_seconds_ >= 0)) {
    throw InvalidArgumentError(fmt::format(
        "DistributedOptimizer: timeout_seconds must be >= 0, got {}", options.timeout_seconds_));
  }
  check(MPI_Comm_rank(options.comm_, &rank_), "DistributedOptimizer");
  check(MPI_Comm_size(options.comm_, &size_), "DistributedOptimizer");
  reducer_ = std::make_unique<GradientReducer>(options_);
}

DistributedOptimizer::DistributedOptimizer(Optimizer& inner, MPI_Comm comm, bool sparse_as_dense)
    : DistributedOptimizer(inner,
                           DistributedOptions().comm(comm).sparse_as_dense(sparse_as_dense)) {}

DistributedOptimizer::~DistributedOptimizer() = default;

GradientsAndLoss DistributedOptimizer::compute_gradients_and_loss(
    const std::function<Tensor()>& loss_fn, std::vector<Variable> var_list,
    const std::optional<Tensor>& grad_loss) {
  if (var_list.empty()) var_list = trainable_variables();
  // One rank: the average is the gradient itself; skip the copies.
  if (var_list.empty() || size_ == 1)
    return inner_.compute_gradients_and_loss(loss_fn, var_list, grad_loss);
  reducer_->begin(var_list);
  GradientReadyFn hook;
  if (options_.overlap_) {
    hook = [this](std::size_t k, const Gradient& g) { reducer_->ready(k, g, true); };
  }
  GradientsAndLoss r;
  try {
    r = inner_.compute_gradients_and_loss(loss_fn, var_list, grad_loss, hook);
  } catch (...) {
    reducer_->abandon();
    throw;
  }
  if (!options_.overlap_) {
    for (std::size_t k = 0; k < r.grads_and_vars.size(); ++k)
      reducer_->ready(k, r.grads_and_vars[k].first, false);
  }
  r.grads_and_vars = reducer_->finish();
  return r;
}

GradsAndVars DistributedOptimizer::compute_gradients(const std::function<Tensor()>& loss_fn,
                                                     std::vector<Variable> var_list,
                                                     const std::optional<Tensor>& grad_loss) {
  return compute_gradients_and_loss(loss_fn, std::move(var_list), grad_loss).grads_and_vars;
}

void DistributedOptimizer::apply_gradients(GradsAndVars gv, Variable* global_step) {
  inner_.apply_gradients(std::move(gv), global_step);
}

void DistributedOptimizer::minimize(const std::function<Tensor()>& loss_fn, Variable* global_step,
                                    std::vector<Variable> var_list,
                                    const std::optional<Tensor>& grad_loss) {
  apply_gradients(compute_gradients(loss_fn, std::move(var_list), grad_loss), global_step);
}

const CommunicationStats& DistributedOptimizer::stats() const { return reducer_->stats_; }
void DistributedOptimizer::reset_stats() { reducer_->stats_ = CommunicationStats{}; }

}  // namespace tapeflow
