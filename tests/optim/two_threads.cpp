// Two threads train two independent models at once, each with its own tape,
// optimizer and default var_list (the calling thread's trainable collection),
// and each must end bit-identical to the same training run alone. Run plain
// by `make test`, and under ThreadSanitizer by `make tsan` (in CI).
#include <cstdio>
#include <tapeflow/tapeflow.hpp>
#include <thread>
#include <vector>

using namespace tapeflow;

namespace {
// A small MLP on synthetic data, trained with the README's pattern:
// compute_gradients(loss_fn) with no var_list, then apply_gradients.
std::vector<double> train(std::uint64_t seed) {
  nn::Sequential model(seed);
  model.add<nn::Dense>(16, nn::Activation::relu);
  model.add<nn::Dense>(3);
  model.build({8});
  Rng rng(seed + 100);
  const Tensor x = random_normal({32, 8}, 0, 1, DType::float32, rng);
  std::vector<std::int64_t> labels(32);
  for (auto& l : labels) l = static_cast<std::int64_t>(rng.below(3));
  const Tensor y = Tensor::from_vector(labels, {32});
  Adam opt(AdamOptions(0.01));
  opt.set_clipping(clip::by_global_norm(1.0));
  Variable step = create_global_step();
  for (int i = 0; i < 200; ++i) {
    GradsAndVars gv = opt.compute_gradients(
        [&] { return reduce_mean(sparse_softmax_cross_entropy_with_logits(y, model(x, true))); });
    opt.apply_gradients(std::move(gv), &step);
  }
  std::vector<double> out;
  for (const auto& v : model.trainable_variables()) {
    const auto values = v.value().to_vector();
    out.insert(out.end(), values.begin(), values.end());
  }
  return out;
}
}  // namespace

int main() {
  set_num_threads(1);  // tapeflow's kernels stay on the calling thread: the threads here are ours
  const std::vector<double> alone_a = train(1), alone_b = train(2);
  std::vector<double> a, b;
  std::thread ta([&] { a = train(1); });
  std::thread tb([&] { b = train(2); });
  ta.join();
  tb.join();
  const bool same_a = a == alone_a, same_b = b == alone_b;
  std::printf("model 1: %s; model 2: %s\n", same_a ? "bit-identical" : "DIFFERS",
              same_b ? "bit-identical" : "DIFFERS");
  const int passed = same_a + same_b;
  std::printf("%d passed, %d failed\n", passed, 2 - passed);
  return passed == 2 ? 0 : 1;
}
