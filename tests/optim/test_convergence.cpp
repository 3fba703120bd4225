// Every optimizer solves two small problems whose answers are known.
#include "helpers.hpp"

using namespace tapeflow;

namespace {
std::unique_ptr<Optimizer> make(const std::string& kind) {
  if (kind == "sgd") return std::make_unique<SGD>(0.1);
  if (kind == "momentum") return std::make_unique<Momentum>(0.05, 0.9);
  if (kind == "nesterov") return std::make_unique<Momentum>(0.05, 0.9, true);
  return std::make_unique<Adam>(AdamOptions{0.05});
}
}  // namespace

TEST_CASE("linear regression reaches the generating weights", "[optim][convergence]") {
  // y = X [2, -3] + 0.5, no noise: the least-squares answer is exact.
  Rng rng(3);
  const Tensor X = random_normal({64, 2}, 0, 1, DType::float64, rng);
  const Tensor y = matmul(X, reshape(Tensor({2, -3}, DType::float64), {2, 1})) + 0.5;
  for (const std::string kind : {"sgd", "momentum", "nesterov", "adam"}) {
    DYNAMIC_SECTION(kind) {
      Variable w(zeros({2, 1}, DType::float64), "w"), b(zeros({1}, DType::float64), "b");
      auto opt = make(kind);
      for (int step = 0; step < 600; ++step) {
        opt->minimize([&] { return reduce_mean(square(matmul(X, w) + b - y)); }, nullptr, {w, b});
      }
      CHECK_CLOSE_TOL(w.value().to_vector(), 1e-3, {2, -3});
      CHECK_CLOSE_TOL(b.value().to_vector(), 1e-3, {0.5});
    }
  }
}

TEST_CASE("logistic regression separates a fixed data set", "[optim][convergence]") {
  // Two Gaussian blobs at (-2,-2) and (2,2); label 1 for the second.
  Rng rng(11);
  const Tensor a = random_normal({50, 2}, -2, 0.7, DType::float64, rng);
  const Tensor c = random_normal({50, 2}, 2, 0.7, DType::float64, rng);
  const Tensor X = concat({a, c}, 0);
  std::vector<std::int64_t> labels(100, 0);
  std::fill(labels.begin() + 50, labels.end(), 1);
  const Tensor y = Tensor::from_vector(labels, {100});
  for (const std::string kind : {"sgd", "momentum", "nesterov", "adam"}) {
    DYNAMIC_SECTION(kind) {
      Variable w(zeros({2, 2}, DType::float64), "w"), b(zeros({2}, DType::float64), "b");
      auto opt = make(kind);
      double first = 0, last = 0;
      for (int step = 0; step < 200; ++step) {
        auto loss = [&] {
          return reduce_mean(sparse_softmax_cross_entropy_with_logits(y, matmul(X, w) + b));
        };
        if (step == 0) first = loss().item();
        opt->minimize(loss, nullptr, {w, b});
        last = loss().item();
      }
      const auto pred = argmax(matmul(X, w) + b, 1).to_vector();
      int correct = 0;
      for (int i = 0; i < 100; ++i) correct += pred[i] == static_cast<double>(labels[i]);
      CHECK(correct == 100);
      CHECK(last < 0.1 * first);
    }
  }
}
