// conv2d, pooling, dropout and flatten: values by hand, TF's padding
// arithmetic, and float64 finite-difference gradients.
#include "helpers.hpp"
#include "tapeflow/autograd/detail/onednn.hpp"

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

namespace {
// Largest |a - b| relative to the largest |b| (1 when b is all zeros).
double rel_diff(const Tensor& a, const Tensor& b) {
  const auto va = a.to_vector(), vb = b.to_vector();
  REQUIRE(va.size() == vb.size());
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < va.size(); ++i) {
    diff = std::max(diff, std::abs(va[i] - vb[i]));
    scale = std::max(scale, std::abs(vb[i]));
  }
  return diff / std::max(scale, 1.0);
}

// Output, d(input) and d(filters) of loss = sum(f(x, w) * r), on the backend
// selected by `onednn`.
std::vector<Tensor> run_backend(bool onednn, const std::function<Tensor(Tensor, Tensor)>& f,
                                const Tensor& x0, const Tensor& w0, const Tensor& r) {
  const bool before = detail::onednn::set_enabled(onednn);
  Variable x(x0, "x"), w(w0, "w");
  GradientTape tape;
  const Tensor y = f(x.value(), w.value());
  const Tensor loss = reduce_sum(y * r);
  auto g = tape.gradient(loss, std::vector<Variable>{x, w});
  detail::onednn::set_enabled(before);
  std::vector<Tensor> out{y, g[0].to_dense()};
  if (!g[1].is_none()) out.push_back(g[1].to_dense());
  return out;
}
}  // namespace

TEST_CASE("oneDNN and the portable kernels agree on convolution and pooling (float32)",
          "[autograd][conv2d][pool][onednn]") {
  // The build says whether it has oneDNN; the library must then use it.
  CHECK(detail::onednn::enabled() == bool(TAPEFLOW_EXPECT_ONEDNN));
  if (!detail::onednn::enabled()) {
    WARN("built without oneDNN: only the portable kernels exist");
    return;
  }
  Rng rng(11);
  struct Conv {
    std::size_t n, h, w, c, k, o;
    int stride;
    Padding padding;
  };
  for (const Conv& t :
       {Conv{2, 28, 28, 1, 5, 16, 1, Padding::same}, Conv{2, 14, 14, 16, 5, 32, 1, Padding::same},
        Conv{3, 7, 9, 3, 3, 4, 2, Padding::same}, Conv{2, 8, 7, 2, 3, 5, 2, Padding::valid},
        Conv{1, 5, 5, 4, 2, 3, 3, Padding::valid}}) {
    CAPTURE(t.n, t.h, t.w, t.c, t.k, t.o, t.stride, int(t.padding));
    const Tensor x = random_uniform({t.n, t.h, t.w, t.c}, -1, 1, DType::float32, rng);
    const Tensor w = random_uniform({t.k, t.k, t.c, t.o}, -1, 1, DType::float32, rng);
    auto f = [&](Tensor a, Tensor b) { return conv2d(a, b, {t.stride, t.stride}, t.padding); };
    const Tensor probe = f(x, w);
    const Tensor r = random_uniform(probe.shape(), -1, 1, DType::float32, rng);
    const auto fast = run_backend(true, f, x, w, r);
    const auto plain = run_backend(false, f, x, w, r);
    REQUIRE(fast[0].shape() == plain[0].shape());
    CHECK(rel_diff(fast[0], plain[0]) < 1e-5);  // output
    CHECK(rel_diff(fast[1], plain[1]) < 1e-5);  // d input
    CHECK(rel_diff(fast[2], plain[2]) < 1e-5);  // d filters
  }
  // More geometries than the primitive cache keeps (64): it starts afresh
  // and the results stay right, including for shapes it held before.
  for (std::size_t n = 1; n <= 70; ++n) {
    const std::size_t batch = n == 70 ? 1 : n;  // the last one was evicted
    const Tensor x = random_uniform({batch, 6, 6, 2}, -1, 1, DType::float32, rng);
    const Tensor w = random_uniform({3, 3, 2, 3}, -1, 1, DType::float32, rng);
    auto f = [&](Tensor a, Tensor b) { return conv2d(a, b, {1, 1}, Padding::same); };
    const Tensor r = random_uniform({batch, 6, 6, 3}, -1, 1, DType::float32, rng);
    const auto fast = run_backend(true, f, x, w, r);
    const auto plain = run_backend(false, f, x, w, r);
    CHECK(rel_diff(fast[0], plain[0]) < 1e-5);
    CHECK(rel_diff(fast[2], plain[2]) < 1e-5);
  }
  struct Pool {
    std::size_t n, h, w, c;
    int k, stride;
    Padding padding;
  };
  for (const Pool& t :
       {Pool{2, 28, 28, 16, 2, 2, Padding::same}, Pool{2, 7, 7, 3, 3, 2, Padding::same},
        Pool{1, 6, 5, 2, 2, 1, Padding::valid}, Pool{2, 5, 5, 3, 3, 3, Padding::valid}}) {
    CAPTURE(t.n, t.h, t.w, t.c, t.k, t.stride, int(t.padding));
    // relu of shifted noise: many windows hold only zeros, so ties decide
    // where the max-pool gradient goes (the first maximum, on both paths).
    const Tensor x = relu(random_uniform({t.n, t.h, t.w, t.c}, -1, 1, DType::float32, rng) - 0.6f);
    const Tensor unused = zeros({1}, DType::float32);
    for (bool is_max : {true, false}) {
      auto f = [&](Tensor a, Tensor) {
        return is_max ? max_pool2d(a, {t.k, t.k}, {t.stride, t.stride}, t.padding)
                      : avg_pool2d(a, {t.k, t.k}, {t.stride, t.stride}, t.padding);
      };
      const Tensor probe = f(x, unused);
      const Tensor r = random_uniform(probe.shape(), -1, 1, DType::float32, rng);
      const auto fast = run_backend(true, f, x, unused, r);
      const auto plain = run_backend(false, f, x, unused, r);
      CHECK(rel_diff(fast[0], plain[0]) < 1e-6);
      CHECK(rel_diff(fast[1], plain[1]) < 1e-6);
    }
  }
}
