// Data-parallel cost, under `mpirun -np N` (bench/distributed.sh runs N = 1 and 2):
//  1. allreduce bandwidth of float32 buffers from 4 KB to 64 MB, blocking
//     MPI_Allreduce and the MPI_Iallreduce + test loop that tapeflow uses;
//  2. training steps of the make-mnist models (CNN 32/64 channels + dropout,
//     MLP 512-256 + dropout; Adam, clip_by_global_norm 5) at a global batch of
//     64 (64 / N per rank), with the allreduce overlapped with the backward
//     sweep and blocking after it: steps/s and the share of the step spent
//     waiting for communication after the sweep.
// Rank 0 prints. Usage: distributed_bench [seconds per figure=3] [reps=3]
//                                         [what=all|allreduce|steps] [threads=1]
//                                         [bucket bytes=25 MiB]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <tapeflow/distributed/distributed.hpp>
#include <tapeflow/tapeflow.hpp>
#include <vector>

using namespace tapeflow;
using Clock = std::chrono::steady_clock;

namespace {
int rank = 0, ranks = 1;
std::size_t bucket_bytes = std::size_t{25} << 20;

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// How many calls of `f` fill `seconds`, from `trial` timed calls on rank 0.
// Every rank must make the same number of collective calls, so the count is
// decided once and broadcast (a loop that stops on each rank's own clock
// would leave one rank a call short, and the next collective mismatched).
template <class F>
int repetitions(F&& f, int trial, double seconds) {
  const auto t0 = Clock::now();
  for (int i = 0; i < trial; ++i) f();
  int n = static_cast<int>(seconds / std::max(since(t0) / trial, 1e-9));
  MPI_Bcast(&n, 1, MPI_INT, 0, MPI_COMM_WORLD);
  return std::max(n, 3);
}

// Seconds per allreduce of `bytes`, median of `reps` timed batches.
double allreduce_seconds(std::size_t bytes, bool nonblocking, int reps, double seconds) {
  std::vector<float> buf(bytes / 4, 1.0f);
  auto once = [&] {
    if (nonblocking) {
      MPI_Request r;
      MPI_Iallreduce(MPI_IN_PLACE, buf.data(), static_cast<int>(buf.size()), MPI_FLOAT, MPI_SUM,
                     MPI_COMM_WORLD, &r);
      int done = 0;
      while (!done) MPI_Test(&r, &done, MPI_STATUS_IGNORE);
    } else {
      MPI_Allreduce(MPI_IN_PLACE, buf.data(), static_cast<int>(buf.size()), MPI_FLOAT, MPI_SUM,
                    MPI_COMM_WORLD);
    }
  };
  for (int i = 0; i < 3; ++i) once();
  const int n = repetitions(once, 20, seconds / reps);
  std::vector<double> per;
  for (int rep = 0; rep < reps; ++rep) {
    MPI_Barrier(MPI_COMM_WORLD);
    const auto t1 = Clock::now();
    for (int i = 0; i < n; ++i) once();
    per.push_back(since(t1) / n);
  }
  return median(per);
}

void bench_allreduce(int reps, double seconds) {
  if (rank == 0) {
    std::printf("allreduce of float32 sums, %d ranks (busbw = size x 2(N-1)/N / time)\n", ranks);
    std::printf("%10s %14s %12s %14s %12s\n", "bytes", "Allreduce us", "busbw GB/s",
                "Iallreduce us", "busbw GB/s");
  }
  const double wire = ranks > 1 ? 2.0 * (ranks - 1) / ranks : 1.0;
  for (std::size_t bytes = 4096; bytes <= (std::size_t{64} << 20); bytes *= 4) {
    const double a = allreduce_seconds(bytes, false, reps, seconds);
    const double b = allreduce_seconds(bytes, true, reps, seconds);
    if (rank == 0)
      std::printf("%10zu %14.1f %12.2f %14.1f %12.2f\n", bytes, a * 1e6, bytes * wire / a / 1e9,
                  b * 1e6, bytes * wire / b / 1e9);
  }
}

void build(nn::Sequential& m, const std::string& name) {
  using nn::Activation;
  if (name == "mlp") {
    m.add<nn::Flatten>();
    m.add<nn::Dense>(512, Activation::relu);
    m.add<nn::Dropout>(0.2);
    m.add<nn::Dense>(256, Activation::relu);
    m.add<nn::Dropout>(0.2);
  } else {
    m.add<nn::Conv2D>(32, 5, Activation::relu);
    m.add<nn::MaxPool2D>(2);
    m.add<nn::Conv2D>(64, 5, Activation::relu);
    m.add<nn::MaxPool2D>(2);
    m.add<nn::Flatten>();
    m.add<nn::Dropout>(0.25);
    m.add<nn::Dense>(256, Activation::relu);
    m.add<nn::Dropout>(0.5);
  }
  m.add<nn::Dense>(10);
  m.build({28, 28, 1});
}

enum class Mode { plain, overlap, blocking };

void bench_steps(const std::string& model_name, Mode mode, int reps, double seconds) {
  const std::size_t global_batch = 64, batch = global_batch / static_cast<std::size_t>(ranks);
  nn::Sequential model(42);
  build(model, model_name);
  const auto vars = model.trainable_variables();
  Rng rng(7 + static_cast<std::uint64_t>(rank));
  const Tensor x = random_uniform({batch, 28, 28, 1}, 0.0, 1.0, DType::float32, rng);
  std::vector<std::int64_t> labels(batch);
  for (std::size_t i = 0; i < batch; ++i)
    labels[i] = static_cast<std::int64_t>((i * 7 + rank) % 10);
  const Tensor y = Tensor::from_vector(labels, {batch});
  Adam adam(AdamOptions(1e-3));
  adam.set_clipping(clip::by_global_norm(5.0));
  DistributedOptimizer opt(
      adam, DistributedOptions().overlap(mode == Mode::overlap).bucket_bytes(bucket_bytes));
  auto loss = [&] {
    return reduce_mean(sparse_softmax_cross_entropy_with_logits(y, model(x, true)));
  };
  auto step = [&] {
    if (mode == Mode::plain) {
      adam.minimize(loss, nullptr, vars);
    } else {
      opt.minimize(loss, nullptr, vars);
    }
  };
  for (int i = 0; i < 3; ++i) step();
  const int n = repetitions(step, 3, seconds / reps);
  std::vector<double> rates, waits;
  for (int rep = 0; rep < reps; ++rep) {
    opt.reset_stats();
    MPI_Barrier(MPI_COMM_WORLD);
    const auto t1 = Clock::now();
    for (int i = 0; i < n; ++i) step();
    const double elapsed = since(t1);
    rates.push_back(n / elapsed);
    const auto& s = opt.stats();
    waits.push_back((s.wait_seconds + s.check_seconds) / elapsed);
  }
  const auto& s = opt.stats();
  if (rank == 0) {
    const char* mode_name = mode == Mode::plain     ? "no MPI"
                            : mode == Mode::overlap ? "overlap"
                                                    : "blocking";
    std::printf(
        "%-4s %d rank(s) x %d thread(s) x batch %3zu  %-8s %7.2f steps/s (%.2f-%.2f)  "
        "waiting %4.1f%%  %lld buckets/step, %.2f MB/step, bucket_bytes %zu\n",
        model_name.c_str(), ranks, num_threads(), batch, mode_name, median(rates),
        *std::min_element(rates.begin(), rates.end()),
        *std::max_element(rates.begin(), rates.end()), 100 * median(waits),
        static_cast<long long>(s.buckets / std::max<std::int64_t>(s.steps, 1)),
        static_cast<double>(s.bytes) / std::max<std::int64_t>(s.steps, 1) / 1e6, bucket_bytes);
    std::fflush(stdout);
  }
}
}  // namespace

int main(int argc, char** argv) {
  mpi::Environment env(argc, argv);
  rank = mpi::rank();
  ranks = mpi::size();
  const double seconds = argc > 1 ? std::atof(argv[1]) : 3.0;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 3;
  const std::string what = argc > 3 ? argv[3] : "all";
  set_num_threads(argc > 4 ? std::atoi(argv[4]) : 1);
  if (argc > 5) bucket_bytes = static_cast<std::size_t>(std::atof(argv[5]));
  if (what != "steps" && ranks > 1) bench_allreduce(reps, seconds);
  if (what != "allreduce") {
    for (const char* m : {"mlp", "cnn"}) {
      if (ranks == 1) bench_steps(m, Mode::plain, reps, seconds);
      bench_steps(m, Mode::overlap, reps, seconds);
      if (ranks > 1) bench_steps(m, Mode::blocking, reps, seconds);
    }
  }
  return 0;
}
