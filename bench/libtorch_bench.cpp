// The tape-overhead workload of tapeflow_bench.cpp in LibTorch's autograd.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

static void BM_TorchTapeChain(benchmark::State& state) {
  constexpr int kOps = 1000;
  torch::manual_seed(1);
  auto w = (torch::rand({16}) * 0.5 + 0.5).requires_grad_(true);
  auto b = (torch::rand({16}) * 0.2 - 0.1).requires_grad_(true);
  auto x = torch::rand({16}) * 2 - 1;
  for (auto _ : state) {
    auto h = x;
    for (int i = 0; i < kOps; ++i) {
      switch (i % 3) {
        case 0:
          h = h * w;
          break;
        case 1:
          h = h + b;
          break;
        default:
          h = torch::tanh(h);
          break;
      }
    }
    auto grads = torch::autograd::grad({h.sum()}, {w, b});
    benchmark::DoNotOptimize(grads[0].data_ptr<float>());
  }
  state.counters["s_per_op"] = benchmark::Counter(
      kOps, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_TorchTapeChain)->Unit(benchmark::kMicrosecond);

int main(int argc, char** argv) {
  torch::set_num_threads(1);  // 16-float tensors: threads only add overhead
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
