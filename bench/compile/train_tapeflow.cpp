// make compare's compile-time workload: a small training script against
// tapeflow (bench/compile/train_libtorch.cpp is the same in LibTorch).
#include <cstdio>
#include <tapeflow/tapeflow.hpp>

using namespace tapeflow;

int main() {
  Rng rng(1);
  const Tensor x = random_uniform({256, 28, 28, 1}, 0.0, 1.0, DType::float32, rng);
  std::vector<std::int64_t> labels(256);
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::int64_t>(i % 10);
  const Tensor y = Tensor::from_vector(labels, {256});

  nn::Sequential model(1);
  model.add<nn::Conv2D>(8, 3, nn::Activation::relu);
  model.add<nn::MaxPool2D>(2);
  model.add<nn::Flatten>();
  model.add<nn::Dense>(64, nn::Activation::relu);
  model.add<nn::Dense>(10);
  model.build({28, 28, 1});
  const auto vars = model.trainable_variables();

  Adam adam(AdamOptions(1e-3));
  adam.set_clipping(clip::by_global_norm(5.0));
  Variable step = create_global_step();
  Batches batches({x, y}, 32, 7);
  for (std::size_t epoch = 0; epoch < 2; ++epoch) {
    double total = 0;
    for (const Dataset& b : batches.epoch(epoch)) {
      auto [gv, loss] = adam.compute_gradients_and_loss(
          [&] {
            return reduce_mean(
                sparse_softmax_cross_entropy_with_logits(b.labels, model(b.images, true)));
          },
          vars);
      adam.apply_gradients(std::move(gv), &step);
      total += loss.item();
    }
    std::printf("epoch %zu: loss %.4f, |g| %.3f\n", epoch + 1, total / batches.size(),
                *adam.clip_report().global_norm);
  }
  save_checkpoint("/tmp/compile-bench.npz", vars);
  return 0;
}
