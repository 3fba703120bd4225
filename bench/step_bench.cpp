// Whole training steps, as a user's loop runs them: forward, backward,
// clip_by_global_norm(5) and Adam, on random data of MNIST's shape.
//   W1:  MLP 784-256-256-10, batch 32
//   W2:  the same MLP, batch 256
//   CNN: conv5x5(1->16, SAME)-relu-pool2-conv5x5(16->32, SAME)-relu-pool2-
//        dense(1568->128)-relu-dense(10), batch 64
// Prints one line per workload: median steps/s over the repetitions, with the
// range. Usage: step_bench [reps=7] [seconds per rep=1.0] [threads=1] [name prefix]
//                          [backend=onednn|portable]
#include <cblas.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <tapeflow/tapeflow.hpp>
#include <vector>

#include "tapeflow/autograd/detail/onednn.hpp"

using namespace tapeflow;

namespace {

long minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

double faults_per_step = 0;  // of the last measurement: the allocator's cost shows here

// Calls of `step` per second over at least `seconds`, after 3 warm-up calls
// (slots, caches); records the page faults per call in faults_per_step.
template <class F>
double rate(F&& step, double seconds) {
  for (int i = 0; i < 3; ++i) step();
  const auto start = std::chrono::steady_clock::now();
  const long faults0 = minor_faults();
  int steps = 0;
  double elapsed = 0;
  do {
    step();
    ++steps;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  } while (elapsed < seconds);
  faults_per_step = static_cast<double>(minor_faults() - faults0) / steps;
  return steps / elapsed;
}

double steps_per_second(nn::Sequential& model, const Tensor& x, const Tensor& y, double seconds) {
  Adam opt(AdamOptions{1e-3});
  opt.set_clipping(clip::by_global_norm(5.0));
  const auto vars = model.trainable_variables();
  auto step = [&] {
    opt.minimize(
        [&] { return reduce_mean(sparse_softmax_cross_entropy_with_logits(y, model(x, true))); },
        nullptr, vars);
  };
  return rate(step, seconds);
}

const char* only = nullptr;  // run only the workloads whose name starts with this

void run(const char* name, nn::Sequential& model, std::size_t batch, int reps, double seconds) {
  if (only && std::string(name).rfind(only, 0) != 0) return;
  Rng rng(7);
  const Tensor x = random_uniform({batch, 28, 28, 1}, 0.0, 1.0, DType::float32, rng);
  std::vector<std::int64_t> labels(batch);
  for (auto& l : labels) l = static_cast<std::int64_t>(rng.below(10));
  const Tensor y = Tensor::from_vector(labels, {batch});
  std::vector<double> r;
  for (int i = 0; i < reps; ++i) r.push_back(steps_per_second(model, x, y, seconds));
  std::sort(r.begin(), r.end());
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  std::printf(
      "%-10s %9.1f steps/s  (min %.1f, max %.1f, %d reps)  peak RSS %ld MB  %.1f page "
      "faults/step\n",
      name, r[r.size() / 2], r.front(), r.back(), reps, u.ru_maxrss / 1024, faults_per_step);
  std::fflush(stdout);
}

// The sgemm roof of the W2 step: the products that step makes (forward
// x·W for the three layers; backward dW for all three and dX for the upper
// two), straight on OpenBLAS with the same shapes, back to back. Its
// steps/s is what the step would reach if only its matrix products took time.
void sgemm_roof(int reps, double seconds) {
  if (only && std::string("W2 sgemm roof").rfind(only, 0) != 0) return;
  const int b = 256;
  const int dims[4] = {784, 256, 256, 10};
  std::vector<std::vector<float>> act(4), w(3), dact(4), dw(3);
  for (int l = 0; l < 4; ++l) act[l].assign(std::size_t(b) * dims[l], 0.5f), dact[l] = act[l];
  for (int l = 0; l < 3; ++l) w[l].assign(std::size_t(dims[l]) * dims[l + 1], 0.01f), dw[l] = w[l];
  auto step = [&] {
    for (int l = 0; l < 3; ++l)  // forward: act[l+1] = act[l] · w[l]
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, b, dims[l + 1], dims[l], 1.f,
                  act[l].data(), dims[l], w[l].data(), dims[l + 1], 0.f, act[l + 1].data(),
                  dims[l + 1]);
    for (int l = 2; l >= 0; --l) {  // backward: dw = actᵀ · dact, dact[l] = dact[l+1] · wᵀ
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, dims[l], dims[l + 1], b, 1.f,
                  act[l].data(), dims[l], dact[l + 1].data(), dims[l + 1], 0.f, dw[l].data(),
                  dims[l + 1]);
      if (l > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, b, dims[l], dims[l + 1], 1.f,
                    dact[l + 1].data(), dims[l + 1], w[l].data(), dims[l + 1], 0.f, dact[l].data(),
                    dims[l]);
    }
  };
  std::vector<double> r;
  for (int i = 0; i < reps; ++i) r.push_back(rate(step, seconds));
  std::sort(r.begin(), r.end());
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  std::printf("%-10s %9.1f steps/s  (min %.1f, max %.1f, %d reps)  peak RSS %ld MB\n",
              "W2 sgemm roof", r[r.size() / 2], r.front(), r.back(), reps, u.ru_maxrss / 1024);
  std::fflush(stdout);
}
}  // namespace

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 7;
  const double seconds = argc > 2 ? std::atof(argv[2]) : 1.0;
  const int threads = argc > 3 ? std::atoi(argv[3]) : 1;
  only = argc > 4 && argv[4][0] ? argv[4] : nullptr;
  if (argc > 5 && std::string(argv[5]) == "portable") detail::onednn::set_enabled(false);
  set_num_threads(threads);
  std::printf("threads=%d conv/pool on %s\n", threads,
              detail::onednn::enabled() ? "oneDNN" : "im2col+BLAS");

  nn::Sequential mlp(1);
  mlp.add<nn::Flatten>();
  mlp.add<nn::Dense>(256, nn::Activation::relu);
  mlp.add<nn::Dense>(256, nn::Activation::relu);
  mlp.add<nn::Dense>(10);
  mlp.build({28, 28, 1});
  run("W1 mlp/32", mlp, 32, reps, seconds);
  run("W2 mlp/256", mlp, 256, reps, seconds);
  // At one thread only: after set_num_threads OpenBLAS runs single-threaded,
  // and a one-thread roof is what the one-thread step is held against.
  if (threads == 1) sgemm_roof(reps, seconds);

  nn::Sequential cnn(1);
  cnn.add<nn::Conv2D>(16, 5, nn::Activation::relu);
  cnn.add<nn::MaxPool2D>(2);
  cnn.add<nn::Conv2D>(32, 5, nn::Activation::relu);
  cnn.add<nn::MaxPool2D>(2);
  cnn.add<nn::Flatten>();
  cnn.add<nn::Dense>(128, nn::Activation::relu);
  cnn.add<nn::Dense>(10);
  cnn.build({28, 28, 1});
  run("CNN/64", cnn, 64, reps, seconds);

  // The make-mnist CNN: 32/64 channels, dense 256, dropout.
  nn::Sequential mnist(1);
  mnist.add<nn::Conv2D>(32, 5, nn::Activation::relu);
  mnist.add<nn::MaxPool2D>(2);
  mnist.add<nn::Conv2D>(64, 5, nn::Activation::relu);
  mnist.add<nn::MaxPool2D>(2);
  mnist.add<nn::Flatten>();
  mnist.add<nn::Dropout>(0.25);
  mnist.add<nn::Dense>(256, nn::Activation::relu);
  mnist.add<nn::Dropout>(0.5);
  mnist.add<nn::Dense>(10);
  mnist.build({28, 28, 1});
  run("MNIST-CNN/64", mnist, 64, reps, seconds);
}
