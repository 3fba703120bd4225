// Google Benchmark programs for tapeflow. bench/run.sh runs them beside the
// same workloads in LibTorch and PyTorch and prints the ratios.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <tapeflow/core/format.hpp>
#include <tapeflow/tapeflow.hpp>
#include <vector>

using namespace tapeflow;

// Tape overhead: 1000 elementwise ops on 16-float tensors (multiply by a
// variable, add a variable, tanh, repeated), forward plus backward.
static void BM_TapeChain(benchmark::State& state) {
  constexpr int kOps = 1000;
  Rng rng(1);
  Variable w(random_uniform({16}, 0.5, 1.0, DType::float32, rng), "w");
  Variable b(random_uniform({16}, -0.1, 0.1, DType::float32, rng), "b");
  const Tensor x = random_uniform({16}, -1, 1, DType::float32, rng);
  for (auto _ : state) {
    GradientTape tape;
    Tensor h = x;
    for (int i = 0; i < kOps; ++i) {
      switch (i % 3) {
        case 0:
          h = h * w;
          break;
        case 1:
          h = h + b;
          break;
        default:
          h = tanh(h);
          break;
      }
    }
    auto g = tape.gradient(reduce_sum(h), std::vector<Variable>{w, b});
    benchmark::DoNotOptimize(g[0].dense().data<float>());
  }
  // Seconds per recorded op (forward and its share of the backward pass).
  state.counters["s_per_op"] = benchmark::Counter(
      kOps, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_TapeChain)->Unit(benchmark::kMicrosecond);

constexpr std::size_t kTotal = std::size_t{1} << 24;  // 16M floats = 64 MiB

// Memory bandwidth reference: a STREAM-style copy of 16M floats, vectorised
// and threaded like the kernels it is compared with (memcpy's non-temporal
// path is slower on some VMs and would flatter the ratios). Bytes read + written.
static void BM_Copy(benchmark::State& state) {
  std::vector<float> src(kTotal, 1.f), dst(kTotal, 0.f);
  const float* s = src.data();
  float* d = dst.data();
  for (auto _ : state) {
#pragma omp parallel for simd schedule(static)
    for (std::size_t i = 0; i < kTotal; ++i) d[i] = s[i];
    benchmark::DoNotOptimize(d);
    benchmark::ClobberMemory();
  }
  state.counters["GB/s"] = benchmark::Counter(2.0 * kTotal * sizeof(float) / 1e9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_Copy)->Unit(benchmark::kMillisecond)->UseRealTime();

std::vector<Variable> make_vars(std::size_t count, const char* prefix) {
  std::vector<Variable> vars;
  for (std::size_t i = 0; i < count; ++i) {
    vars.emplace_back(full({kTotal / count}, 0.5, DType::float32), fmt::format("{}{}", prefix, i));
  }
  return vars;
}

// Adam on 16M parameters split into `count` variables; bytes = 7 floats per
// parameter (read g, m, v, w; write m, v, w).
static void BM_Adam(benchmark::State& state) {
  const auto count = static_cast<std::size_t>(state.range(0));
  auto vars = make_vars(count, "adam");
  GradsAndVars gv;
  for (auto& v : vars) gv.emplace_back(full(v.shape(), 1e-3, DType::float32), v);
  Adam opt(AdamOptions{1e-3});
  opt.apply_gradients(gv);  // create the slots outside the timing
  for (auto _ : state) opt.apply_gradients(gv);
  state.counters["GB/s"] = benchmark::Counter(7.0 * kTotal * sizeof(float) / 1e9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_Adam)->Arg(1)->Arg(100)->Unit(benchmark::kMillisecond)->UseRealTime();

// The clipping stage's by_global_norm over 10 gradients totalling 16M floats,
// above the limit so that every gradient is scaled. As inside apply_gradients,
// the stage owns the list (scales in place); bytes = 3 floats per element
// (read for the norm, read + write for the scale).
static void BM_ClipByGlobalNorm(benchmark::State& state) {
  auto vars = make_vars(10, "clip");
  const auto stage = clip::by_global_norm(1.0);
  GradsAndVars gv;
  for (auto& v : vars) gv.emplace_back(full(v.shape(), 1.0, DType::float32), v);
  for (auto _ : state) {
    gv = stage(std::move(gv));
    benchmark::DoNotOptimize(gv[0].first.values().data<float>());
    state.PauseTiming();  // refill, so that every timed call has a norm above the limit
    for (auto& [g, v] : gv) g = full(v.shape(), 1.0, DType::float32);
    state.ResumeTiming();
  }
  state.counters["GB/s"] = benchmark::Counter(3.0 * kTotal * sizeof(float) / 1e9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_ClipByGlobalNorm)->Unit(benchmark::kMillisecond)->UseRealTime();

// The floor for the stage: the same two passes as plain C loops (a double
// sum of squares over the ten tensors, then each scaled in place), threaded
// like the library's kernels.
static void BM_ClipTwoPassLoop(benchmark::State& state) {
  std::vector<std::vector<float>> grads(10, std::vector<float>(kTotal / 10, 1.f));
  for (auto _ : state) {
    double sum = 0;
    for (auto& g : grads) {
      const float* p = g.data();
      const std::size_t n = g.size();
#pragma omp parallel for simd reduction(+ : sum) schedule(static)
      for (std::size_t i = 0; i < n; ++i) sum += static_cast<double>(p[i]) * p[i];
    }
    const float scale = static_cast<float>(1.0 / std::max(std::sqrt(sum), 1.0));
    for (auto& g : grads) {
      float* p = g.data();
      const std::size_t n = g.size();
#pragma omp parallel for simd schedule(static)
      for (std::size_t i = 0; i < n; ++i) p[i] *= scale;
    }
    benchmark::DoNotOptimize(grads[0].data());
    state.PauseTiming();  // refill, as BM_ClipByGlobalNorm does
    for (auto& g : grads) std::fill(g.begin(), g.end(), 1.f);
    state.ResumeTiming();
  }
  state.counters["GB/s"] = benchmark::Counter(3.0 * kTotal * sizeof(float) / 1e9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_ClipTwoPassLoop)->Unit(benchmark::kMillisecond)->UseRealTime();

// TF's functional clip_by_global_norm: the caller keeps its list, so the
// result is written to new tensors.
static void BM_ClipByGlobalNormFunctional(benchmark::State& state) {
  std::vector<Gradient> grads;
  for (int i = 0; i < 10; ++i) grads.emplace_back(full({kTotal / 10}, 1.0, DType::float32));
  for (auto _ : state) {
    auto [out, norm] = clip::clip_by_global_norm(grads, 1.0);
    benchmark::DoNotOptimize(out[0].values().data<float>());
  }
  state.counters["GB/s"] = benchmark::Counter(3.0 * kTotal * sizeof(float) / 1e9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_ClipByGlobalNormFunctional)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
