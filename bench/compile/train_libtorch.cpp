// make compare's compile-time workload: the training script of
// bench/compile/train_tapeflow.cpp in LibTorch's C++ frontend.
#include <torch/torch.h>

#include <cstdio>

struct Net : torch::nn::Module {
  Net() {
    conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 8, 3).padding(1)));
    fc1 = register_module("fc1", torch::nn::Linear(14 * 14 * 8, 64));
    fc2 = register_module("fc2", torch::nn::Linear(64, 10));
  }
  torch::Tensor forward(torch::Tensor x) {
    x = torch::max_pool2d(torch::relu(conv(x)), 2).flatten(1);
    return fc2(torch::relu(fc1(x)));
  }
  torch::nn::Conv2d conv{nullptr};
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};

int main() {
  torch::manual_seed(1);
  const auto x = torch::rand({256, 1, 28, 28});
  const auto y = torch::arange(256) % 10;
  auto model = std::make_shared<Net>();
  torch::optim::Adam adam(model->parameters(), torch::optim::AdamOptions(1e-3));
  for (int epoch = 0; epoch < 2; ++epoch) {
    const auto perm = torch::randperm(256);
    double total = 0, norm = 0;
    int steps = 0;
    for (int64_t i = 0; i < 256; i += 32) {
      const auto idx = perm.slice(0, i, i + 32);
      adam.zero_grad();
      auto loss = torch::nn::functional::cross_entropy(model->forward(x.index_select(0, idx)),
                                                       y.index_select(0, idx));
      loss.backward();
      norm = torch::nn::utils::clip_grad_norm_(model->parameters(), 5.0);
      adam.step();
      total += loss.item<double>();
      ++steps;
    }
    std::printf("epoch %d: loss %.4f, |g| %.3f\n", epoch + 1, total / steps, norm);
  }
  torch::save(model, "/tmp/compile-bench.pt");
  return 0;
}
