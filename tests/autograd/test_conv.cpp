// conv2d, pooling, dropout and flatten: values by hand, TF's padding
// arithmetic, and float64 finite-difference gradients.
#include "helpers.hpp"

using namespace tapeflow;
using tf_test::check_grad;
using tf_test::rand64;

namespace {
Tensor nhwc(std::vector<double> v, Shape s) { return Tensor::from_vector(v, s); }
}  // namespace

TEST_CASE("conv2d by hand and with TF's padding arithmetic", "[autograd][conv2d]") {
  // 3x3 image 1..9, a 2x2 kernel of ones: VALID sums each 2x2 window.
  const Tensor x = nhwc({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 3, 3, 1});
  const Tensor k = ones({2, 2, 1, 1}, DType::float64);
  SECTION("VALID") {
    const Tensor y = conv2d(x, k, {1, 1}, Padding::valid);
    CHECK(y.shape() == Shape{1, 2, 2, 1});
    CHECK(y.to_vector() == std::vector<double>{12, 16, 24, 28});
  }
  SECTION("SAME pads the odd element after: out = in, bottom/right window cut") {
    const Tensor y = conv2d(x, k, {1, 1}, Padding::same);
    CHECK(y.shape() == Shape{1, 3, 3, 1});
    CHECK(y.to_vector() == std::vector<double>{12, 16, 9, 24, 28, 15, 15, 17, 9});
  }
  SECTION("SAME with stride 2 on 5x5, k=3: out 3, one pixel of padding on each side") {
    const Tensor big = ones({1, 5, 5, 1}, DType::float64);
    const Tensor y = conv2d(big, ones({3, 3, 1, 1}, DType::float64), {2, 2}, Padding::same);
    CHECK(y.shape() == Shape{1, 3, 3, 1});
    CHECK(y.to_vector() == std::vector<double>{4, 6, 4, 6, 9, 6, 4, 6, 4});
    CHECK(conv2d(big, ones({3, 3, 1, 1}, DType::float64), {2, 2}, Padding::valid).shape() ==
          Shape{1, 2, 2, 1});
  }
  SECTION("channels: each output channel sums its filter over input channels") {
    const Tensor two = nhwc({1, 10, 2, 20}, {1, 1, 2, 2});  // 1x2 image, 2 channels
    const Tensor f = nhwc({1, 0, 0, 1, 1, 1, 1, -1}, {1, 2, 2, 2});
    CHECK(conv2d(two, f).to_vector() == std::vector<double>{1 + 2 + 20, 10 + 2 - 20});
  }
  SECTION("shape errors") {
    CHECK_THROWS_WITH(conv2d(x, ones({2, 2, 3, 1}, DType::float64)), Catch::Contains("channels"));
    CHECK_THROWS_AS(conv2d(reshape(x, {3, 3}), k), ShapeError);
    CHECK_THROWS_WITH(conv2d(x, ones({4, 4, 1, 1}, DType::float64)), Catch::Contains("VALID"));
    CHECK_THROWS_AS(conv2d(x, k, {0, 1}), InvalidArgumentError);
  }
}

TEST_CASE("conv2d gradients for input and filters", "[autograd][conv2d][gradcheck]") {
  const Tensor x = rand64({2, 5, 6, 3}, 1);
  for (auto padding : {Padding::same, Padding::valid}) {
    for (int stride : {1, 2}) {
      const Tensor f = rand64({3, 2, 3, 4}, 2);
      check_grad(
          [=](const auto& v) {
            return conv2d(v[0], v[1], {stride, stride}, padding);
          },
          {x, f});
    }
  }
}

TEST_CASE("max and average pooling", "[autograd][pool]") {
  const Tensor x = nhwc({1, 5, 2, 3, 4, 0, 7, 8, 6}, {1, 3, 3, 1});
  SECTION("values") {
    CHECK(max_pool2d(x, {2, 2}, {1, 1}).to_vector() == std::vector<double>{5, 5, 8, 8});
    CHECK(max_pool2d(x, {2, 2}, {2, 2}, Padding::same).to_vector() ==
          std::vector<double>{5, 2, 8, 6});
    CHECK(avg_pool2d(x, {2, 2}, {1, 1}).to_vector() ==
          std::vector<double>{13 / 4.0, 11 / 4.0, 22 / 4.0, 18 / 4.0});
    // SAME: edge windows average only their real elements (TF excludes padding).
    CHECK(avg_pool2d(x, {2, 2}, {2, 2}, Padding::same).to_vector() ==
          std::vector<double>{13 / 4.0, 1, 7.5, 6});
  }
  SECTION("the max-pool gradient goes to the first maximum") {
    const Tensor tie = nhwc({1, 1, 1, 1}, {1, 2, 2, 1});
    GradientTape tape;
    tape.watch(tie);
    CHECK(tape.gradient(max_pool2d(tie, {2, 2}, {2, 2}), tie).dense().to_vector() ==
          std::vector<double>{1, 0, 0, 0});
  }
  SECTION("gradients") {
    const Tensor r = rand64({2, 5, 4, 3}, 3);  // distinct values: no ties
    for (auto p : {Padding::same, Padding::valid}) {
      check_grad([=](const auto& v) { return max_pool2d(v[0], {2, 2}, {2, 2}, p); }, {r});
      check_grad([=](const auto& v) { return avg_pool2d(v[0], {3, 2}, {2, 1}, p); }, {r});
    }
  }
}

TEST_CASE("dropout keeps 1 - rate of the elements, scaled, reproducibly", "[autograd][dropout]") {
  const Tensor x = ones({10000}, DType::float64);
  Rng a(5), b(5);
  const Tensor y = dropout(x, 0.3, a);
  const auto v = y.to_vector();
  std::size_t kept = 0;
  for (double e : v) {
    REQUIRE((e == 0 || e == Approx(1 / 0.7)));
    kept += e != 0;
  }
  CHECK(kept == Approx(7000).margin(200));
  CHECK(dropout(x, 0.3, b).to_vector() == v);  // same seed, same mask
  Rng c(5);
  CHECK(dropout(x, 0, c).is_same(x));
  CHECK_THROWS_AS(dropout(x, 1.0, c), InvalidArgumentError);
  SECTION("the gradient is the mask") {
    Rng d(9), e(9);
    const Tensor in = rand64({50}, 4);
    GradientTape tape;
    tape.watch(in);
    const Tensor out = dropout(in, 0.5, d);
    const auto g = tape.gradient(out, in).dense().to_vector();
    const auto mask = dropout(ones({50}, DType::float64), 0.5, e).to_vector();
    CHECK(g == mask);
  }
}

TEST_CASE("flatten keeps the batch axis", "[autograd][flatten]") {
  const Tensor x = rand64({2, 3, 4, 5}, 6);
  CHECK(flatten(x).shape() == Shape{2, 60});
  check_grad([](const auto& v) { return flatten(v[0]); }, {x});
}

TEST_CASE("conv2d and matmul compute only the gradients the tape wants",
          "[autograd][conv2d][matmul]") {
  // The filter (weight) gradient must not depend on whether the input's is also wanted.
  const Tensor x = rand64({2, 5, 5, 3}, 8), f = rand64({3, 3, 3, 2}, 9);
  const Tensor a = rand64({4, 3}, 10), w = rand64({3, 2}, 11);
  std::vector<double> both_f, both_w;
  {
    GradientTape tape;
    tape.watch(x);
    tape.watch(f);
    tape.watch(a);
    tape.watch(w);
    Tensor y =
        reduce_sum(square(conv2d(x, f, {1, 1}, Padding::same))) + reduce_sum(square(matmul(a, w)));
    auto g = tape.gradient(y, {x, f, a, w});
    CHECK(g[0].is_dense());
    CHECK(g[2].is_dense());
    both_f = g[1].dense().to_vector();
    both_w = g[3].dense().to_vector();
  }
  GradientTape tape;
  tape.watch(f);
  tape.watch(w);
  Tensor y =
      reduce_sum(square(conv2d(x, f, {1, 1}, Padding::same))) + reduce_sum(square(matmul(a, w)));
  auto g = tape.gradient(y, {x, f, a, w});
  CHECK(g[0].is_none());
  CHECK(g[2].is_none());
  CHECK(g[1].dense().to_vector() == both_f);
  CHECK(g[3].dense().to_vector() == both_w);
}
