// The whole training steps of step_bench.cpp in LibTorch (Debian libtorch-dev):
// forward, backward, clip_grad_norm_(5), Adam, on random data of MNIST's shape,
// in LibTorch's own layout (NCHW). Same output format as step_bench, plus the
// peak RSS. Usage: libtorch_step [reps=7] [seconds per rep=1.0] [threads=1] [name prefix]
#include <sys/resource.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {
const char* only = nullptr;

struct Net : torch::nn::Module {
  // kind: "mlp" (784-256-256-10), "cnn" (16/32 channels, dense 128), "mnist"
  // (32/64 channels, dense 256, dropout 0.25 / 0.5)
  explicit Net(std::string k) : kind(std::move(k)) {
    if (kind == "mlp") {
      fc1 = register_module("fc1", torch::nn::Linear(784, 256));
      fc2 = register_module("fc2", torch::nn::Linear(256, 256));
      fc3 = register_module("fc3", torch::nn::Linear(256, 10));
      return;
    }
    const int c1 = kind == "cnn" ? 16 : 32, c2 = kind == "cnn" ? 32 : 64;
    const int dense = kind == "cnn" ? 128 : 256;
    conv1 =
        register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, c1, 5).padding(2)));
    conv2 =
        register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(c1, c2, 5).padding(2)));
    fc1 = register_module("fc1", torch::nn::Linear(7 * 7 * c2, dense));
    fc2 = register_module("fc2", torch::nn::Linear(dense, 10));
  }
  torch::Tensor forward(torch::Tensor x) {
    if (kind == "mlp") {
      x = torch::relu(fc1(x.view({x.size(0), -1})));
      x = torch::relu(fc2(x));
      return fc3(x);
    }
    x = torch::max_pool2d(torch::relu(conv1(x)), 2);
    x = torch::max_pool2d(torch::relu(conv2(x)), 2);
    x = x.view({x.size(0), -1});
    if (kind == "mnist") x = torch::dropout(x, 0.25, true);
    x = torch::relu(fc1(x));
    if (kind == "mnist") x = torch::dropout(x, 0.5, true);
    return fc2(x);
  }
  std::string kind;
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::Linear fc1{nullptr}, fc2{nullptr}, fc3{nullptr};
};

double steps_per_second(Net& net, const torch::Tensor& x, const torch::Tensor& y, double seconds) {
  torch::optim::Adam opt(net.parameters(), torch::optim::AdamOptions(1e-3));
  auto step = [&] {
    opt.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(net.forward(x), y);
    loss.backward();
    torch::nn::utils::clip_grad_norm_(net.parameters(), 5.0);
    opt.step();
  };
  for (int i = 0; i < 3; ++i) step();
  const auto start = std::chrono::steady_clock::now();
  int steps = 0;
  double elapsed = 0;
  do {
    step();
    ++steps;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  } while (elapsed < seconds);
  return steps / elapsed;
}

void run(const char* name, const std::string& kind, long batch, int reps, double seconds) {
  if (only && std::string(name).rfind(only, 0) != 0) return;
  torch::manual_seed(7);
  Net net(kind);
  const auto x = torch::rand({batch, 1, 28, 28});
  const auto y = torch::randint(0, 10, {batch}, torch::kLong);
  std::vector<double> r;
  for (int i = 0; i < reps; ++i) r.push_back(steps_per_second(net, x, y, seconds));
  std::sort(r.begin(), r.end());
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  std::printf("%-10s %9.1f steps/s  (min %.1f, max %.1f, %d reps)  peak RSS %ld MB\n", name,
              r[r.size() / 2], r.front(), r.back(), reps, u.ru_maxrss / 1024);
  std::fflush(stdout);
}
}  // namespace

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 7;
  const double seconds = argc > 2 ? std::atof(argv[2]) : 1.0;
  const int threads = argc > 3 ? std::atoi(argv[3]) : 1;
  only = argc > 4 && argv[4][0] ? argv[4] : nullptr;
  torch::set_num_threads(threads);
  std::printf("threads=%d libtorch %s\n", threads, TORCH_VERSION);
  run("W1 mlp/32", "mlp", 32, reps, seconds);
  run("W2 mlp/256", "mlp", 256, reps, seconds);
  run("CNN/64", "cnn", 64, reps, seconds);
  run("MNIST-CNN/64", "mnist", 64, reps, seconds);
}
