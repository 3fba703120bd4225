// Linear regression in 30 lines: fit y = 2x - 1 from noisy samples with SGD.
#include <tapeflow/core/format.hpp>
#include <tapeflow/tapeflow.hpp>

int main() {
  using namespace tapeflow;
  Rng rng(0);
  const Tensor x = random_uniform({100, 1}, -1, 1, DType::float32, rng);
  const Tensor noise = random_normal({100, 1}, 0, 0.05, DType::float32, rng);
  const Tensor y = x * 2.0 - 1.0 + noise;

  Variable w(zeros({1, 1}), "w");
  Variable b(zeros({1}), "b");
  SGD opt(0.5);
  Variable global_step = create_global_step();

  for (int step = 0; step < 200; ++step) {
    opt.minimize([&] { return reduce_mean(square(matmul(x, w) + b - y)); }, &global_step);
    if (step % 50 == 0) {
      const double loss = reduce_mean(square(matmul(x, w) + b - y)).item();
      fmt::print("step {:3}: loss {:.5f}\n", step, loss);
    }
  }
  fmt::print("w = {:.3f}, b = {:.3f} (true: 2, -1) after {} steps\n", w.value().item(),
             b.value().item(), global_step.value().item());
  return 0;
}
