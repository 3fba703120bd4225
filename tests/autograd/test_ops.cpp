// Every op: a float64 finite-difference gradient check (with broadcasting
// where the op broadcasts) and a case small enough to verify by hand.
#include "helpers.hpp"

using namespace tapeflow;
using tf_test::check_grad;
using tf_test::rand64;
using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

namespace {
Tensor i64(std::vector<std::int64_t> v, Shape s) { return Tensor::from_vector(v, s); }
}  // namespace

TEST_CASE("binary elementwise ops have correct gradients under broadcasting",
          "[autograd][ops][gradcheck]") {
  const Tensor a = rand64({3, 4}, 1, 0.5, 2.0);
  const Tensor row = rand64({4}, 2, 0.5, 2.0);
  const Tensor col = rand64({3, 1}, 3, 0.5, 2.0);
  const Tensor s = rand64({}, 4, 0.5, 2.0);
  for (const Tensor& b : {rand64({3, 4}, 5, 0.5, 2.0), row, col, s}) {
    check_grad([](const auto& x) { return add(x[0], x[1]); }, {a, b});
    check_grad([](const auto& x) { return sub(x[0], x[1]); }, {a, b});
    check_grad([](const auto& x) { return mul(x[0], x[1]); }, {a, b});
    check_grad([](const auto& x) { return div(x[0], x[1]); }, {a, b});
    check_grad([](const auto& x) { return pow(x[0], x[1]); }, {a, b});
    check_grad([](const auto& x) { return maximum(x[0], x[1]); }, {a, b});
    check_grad([](const auto& x) { return minimum(x[0], x[1]); }, {a, b});
  }
  // The broadcast operand may also come first.
  check_grad([](const auto& x) { return mul(x[0], x[1]); }, {col, row});
}

TEST_CASE("binary ops: hand-computed values and TF's rules", "[autograd][ops]") {
  SECTION("a rank-0 operand receives the total of the upstream gradient") {
    Tensor x({1, 2, 3}, DType::float64);
    Tensor s(2.0);
    GradientTape tape;
    tape.watch(x);
    tape.watch(s);
    Tensor y = x * s;
    auto g = tape.gradient(y, {x, s});
    CHECK(g[0].dense().to_vector() == std::vector<double>{2, 2, 2});
    CHECK(g[1].dense().item() == 6);
  }
  SECTION("maximum sends a tie to its first input, minimum too") {
    Tensor x({1, 5}, DType::float64), y({1, 3}, DType::float64);
    GradientTape tape(true);
    tape.watch(x);
    tape.watch(y);
    Tensor mx = maximum(x, y);
    auto g = tape.gradient(mx, {x, y});
    CHECK(g[0].dense().to_vector() == std::vector<double>{1, 1});
    CHECK(g[1].dense().to_vector() == std::vector<double>{0, 0});
    Tensor mn = minimum(x, y);
    g = tape.gradient(mn, {x, y});
    CHECK(g[0].dense().to_vector() == std::vector<double>{1, 0});
    CHECK(g[1].dense().to_vector() == std::vector<double>{0, 1});
  }
  SECTION("pow: the exponent's gradient is 0 where the base is <= 0") {
    Tensor x({-2, 0, 2}, DType::float64), y({2, 2, 2}, DType::float64);
    GradientTape tape;
    tape.watch(x);
    tape.watch(y);
    auto g = tape.gradient(pow(x, y), {x, y});
    CHECK(g[0].dense().to_vector() == std::vector<double>{-4, 0, 4});
    CHECK_CLOSE(g[1].dense().to_vector(), {0, 0, 4 * std::log(2.0)});
  }
  SECTION("div by hand: d(x/y) = 1/y, -x/y^2") {
    Tensor x(3.0), y(2.0);
    GradientTape tape;
    tape.watch(x);
    tape.watch(y);
    auto g = tape.gradient(x / y, {x, y});
    CHECK(g[0].dense().item() == 0.5);
    CHECK(g[1].dense().item() == -0.75);
  }
  SECTION("mismatched shapes and dtypes are rejected by name") {
    CHECK_THROWS_WITH(add(zeros({3, 4}), zeros({2, 4})),
                      "add: operands with shapes [3, 4] and [2, 4] cannot be broadcast together");
    CHECK_THROWS_WITH(mul(zeros({2}), zeros({2}, DType::float64)), Catch::Contains("mul") &&
                                                                       Catch::Contains("float32") &&
                                                                       Catch::Contains("float64"));
    CHECK_THROWS_AS(add(zeros({2}, DType::int64), zeros({2}, DType::int64)), DTypeError);
  }
  SECTION("C++ scalars take the tensor's dtype") {
    Tensor x{1, 2};
    CHECK((x * 2.0).dtype() == DType::float32);
    CHECK((1.0 - x).to_vector() == std::vector<double>{0, -1});
    CHECK((x / 2).to_vector() == std::vector<double>{0.5, 1});
    CHECK((-x).to_vector() == std::vector<double>{-1, -2});
  }
}

TEST_CASE("unary elementwise ops have correct gradients", "[autograd][ops][gradcheck]") {
  const Tensor x = rand64({2, 5}, 11, -2.0, 2.0);
  const Tensor pos = rand64({2, 5}, 12, 0.2, 3.0);
  check_grad([](const auto& v) { return neg(v[0]); }, {x});
  check_grad([](const auto& v) { return square(v[0]); }, {x});
  check_grad([](const auto& v) { return sqrt(v[0]); }, {pos});
  check_grad([](const auto& v) { return exp(v[0]); }, {x});
  check_grad([](const auto& v) { return log(v[0]); }, {pos});
  check_grad([](const auto& v) { return abs(v[0]); }, {x});
  check_grad([](const auto& v) { return tanh(v[0]); }, {x});
  check_grad([](const auto& v) { return sigmoid(v[0]); }, {x});
  check_grad([](const auto& v) { return relu(v[0]); }, {x});
  check_grad([](const auto& v) { return softplus(v[0]); }, {x});
  // Through float32 the finite difference needs a larger step than float64 rounding allows for
  // 1e-6.
  const auto r = check_gradients(
      [](const auto& v) { return square(cast(cast(v[0], DType::float32), DType::float64)); }, {x},
      1e-2);
  CHECK(r.max_rel_error < 1e-4);
}

TEST_CASE("unary ops: hand-computed values", "[autograd][ops]") {
  Tensor x({-1, 0, 2}, DType::float64);
  auto grad = [&](Tensor (*op)(const Tensor&)) {
    GradientTape tape;
    tape.watch(x);
    return tape.gradient(op(x), x).dense().to_vector();
  };
  CHECK(grad(relu) == std::vector<double>{0, 0, 1});  // 0 at x = 0
  CHECK(grad(abs) == std::vector<double>{-1, 0, 1});  // 0 at x = 0
  CHECK(grad(square) == std::vector<double>{-2, 0, 4});
  CHECK_CLOSE(grad(tanh), {1 - std::pow(std::tanh(-1.0), 2), 1, 1 - std::pow(std::tanh(2.0), 2)});
  CHECK_CLOSE(grad(sigmoid), {0.19661193324148185, 0.25, 0.10499358540350662});
  CHECK_CLOSE(softplus(Tensor({-1000, 0, 1000}, DType::float64)).to_vector(),
              {0, std::log(2.0), 1000});
  CHECK_CLOSE(sigmoid(Tensor({-1000, 1000}, DType::float64)).to_vector(), {0, 1});
}

TEST_CASE("matmul matches a hand product and has correct gradients", "[autograd][ops][matmul]") {
  SECTION("by hand") {
    Tensor a{{1, 2}, {3, 4}};
    Tensor b{{5, 6}, {7, 8}};
    CHECK(matmul(a, b).to_vector() == std::vector<double>{19, 22, 43, 50});
    CHECK(matmul(a, b, true, false).to_vector() == std::vector<double>{26, 30, 38, 44});
    CHECK(matmul(a, b, false, true).to_vector() == std::vector<double>{17, 23, 39, 53});
    CHECK(matmul(a, b, true, true).to_vector() == std::vector<double>{23, 31, 34, 46});
  }
  SECTION("gradients for every transpose combination, 2-D and batched") {
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        const Tensor a = rand64(ta ? Shape{4, 3} : Shape{3, 4}, 21);
        const Tensor b = rand64(tb ? Shape{5, 4} : Shape{4, 5}, 22);
        check_grad([=](const auto& x) { return matmul(x[0], x[1], ta, tb); }, {a, b});
        const Tensor ba = rand64(ta ? Shape{2, 4, 3} : Shape{2, 3, 4}, 23);
        const Tensor bb = rand64(tb ? Shape{2, 5, 4} : Shape{2, 4, 5}, 24);
        check_grad([=](const auto& x) { return matmul(x[0], x[1], ta, tb); }, {ba, bb});
      }
    }
  }
  SECTION("shape errors name both shapes") {
    CHECK_THROWS_WITH(matmul(zeros({32, 784}), zeros({128, 10})),
                      "matmul: inner dimensions differ: a is [32, 784], b is [128, 10]");
    CHECK_THROWS_AS(matmul(zeros({2, 2, 2}), zeros({2, 2})), ShapeError);
  }
}

TEST_CASE("shape ops: values and gradients", "[autograd][ops][shape]") {
  const Tensor x = rand64({2, 3, 4}, 31);
  SECTION("transpose") {
    Tensor t = transpose(Tensor{{1, 2, 3}, {4, 5, 6}});
    CHECK(t.shape() == Shape{3, 2});
    CHECK(t.to_vector() == std::vector<double>{1, 4, 2, 5, 3, 6});
    check_grad([](const auto& v) { return transpose(v[0], {1, 2, 0}); }, {x});
    CHECK_THROWS_AS(transpose(x, {0, 0, 1}), InvalidArgumentError);
  }
  SECTION("reshape") {
    CHECK(reshape(x, {4, -1}).shape() == Shape{4, 6});
    check_grad([](const auto& v) { return reshape(v[0], {6, 4}); }, {x});
    CHECK_THROWS_WITH(reshape(x, {5, -1}),
                      Catch::Contains("reshape") && Catch::Contains("[2, 3, 4]"));
  }
  SECTION("concat") {
    Tensor c = concat({Tensor{{1, 2}}, Tensor{{3, 4}, {5, 6}}}, 0);
    CHECK(c.shape() == Shape{3, 2});
    CHECK(c.to_vector() == std::vector<double>{1, 2, 3, 4, 5, 6});
    CHECK(concat({Tensor::from_vector(std::vector<float>{1, 2}, {2, 1}),
                  Tensor::from_vector(std::vector<float>{3, 4}, {2, 1})},
                 -1)
              .to_vector() == std::vector<double>{1, 3, 2, 4});
    const Tensor y = rand64({2, 1, 4}, 32);
    check_grad([](const auto& v) { return concat({v[0], v[1]}, 1); }, {x, y});
    CHECK_THROWS_AS(concat({x, rand64({3, 3, 4}, 1)}, 1), ShapeError);
  }
  SECTION("slice") {
    Tensor s = slice(Tensor{{1, 2, 3}, {4, 5, 6}}, {0, 1}, {2, -1});
    CHECK(s.shape() == Shape{2, 2});
    CHECK(s.to_vector() == std::vector<double>{2, 3, 5, 6});
    check_grad([](const auto& v) { return slice(v[0], {1, 0, 1}, {1, 2, 2}); }, {x});
    CHECK_THROWS_WITH(slice(x, {0, 0, 3}, {1, 1, 2}), Catch::Contains("out of range"));
  }
  SECTION("gather: values, an IndexedSlices gradient with duplicates, and range errors") {
    Tensor table{{1, 2}, {3, 4}, {5, 6}};
    Tensor idx = i64({2, 0, 2}, {3});
    CHECK(gather(table, idx).to_vector() == std::vector<double>{5, 6, 1, 2, 5, 6});
    CHECK(gather(table, i64({0, 1, 2, 0}, {2, 2})).shape() == Shape{2, 2, 2});
    const Tensor p = rand64({4, 3}, 33);
    const Tensor id2 = i64({3, 1, 3, 0}, {2, 2});
    check_grad([=](const auto& v) { return gather(v[0], id2); }, {p});
    GradientTape tape;
    tape.watch(p);
    Gradient g = tape.gradient(reduce_sum(gather(p, id2)), p);
    REQUIRE(g.is_sparse());
    CHECK(g.sparse().indices.to_vector() == std::vector<double>{3, 1, 3, 0});
    CHECK(g.sparse().values.shape() == Shape{4, 3});
    CHECK(g.sparse().dense_shape == Shape{4, 3});
    CHECK_THROWS_WITH(gather(table, i64({3}, {1})), Catch::Contains("out of range"));
    CHECK_THROWS_AS(gather(table, Tensor{0}), DTypeError);
  }
}

TEST_CASE("reductions: values, keepdims, axes and gradients", "[autograd][ops][reduce]") {
  Tensor m{{1, 2, 3}, {4, 5, 6}};
  SECTION("values") {
    CHECK(reduce_sum(m).item() == 21);
    CHECK(reduce_sum(m, std::vector<int>{0}).to_vector() == std::vector<double>{5, 7, 9});
    CHECK(reduce_sum(m, std::vector<int>{-1}, true).shape() == Shape{2, 1});
    CHECK(reduce_mean(m, std::vector<int>{1}).to_vector() == std::vector<double>{2, 5});
    CHECK(reduce_max(m, std::vector<int>{0}).to_vector() == std::vector<double>{4, 5, 6});
    CHECK_CLOSE(reduce_logsumexp(Tensor({1000, 1000}, DType::float64)).to_vector(),
                {1000 + std::log(2.0)});
    CHECK(reduce_sum(m, std::vector<int>{}).shape() ==
          Shape{2, 3});  // explicit empty list: no reduction
    CHECK(argmax(m, 1).to_vector() == std::vector<double>{2, 2});
    CHECK(argmax(Tensor{{3, 1}, {0, 7}}, 0).to_vector() == std::vector<double>{0, 1});
  }
  SECTION("axis errors") {
    CHECK_THROWS_WITH(reduce_sum(m, std::vector<int>{2}), Catch::Contains("out of range"));
    CHECK_THROWS_WITH(reduce_sum(m, std::vector<int>{1, -1}), Catch::Contains("duplicate"));
  }
  SECTION("gradients") {
    const Tensor x = rand64({3, 4, 2}, 41);
    for (const Axes& axes : {Axes{}, Axes{{0}}, Axes{{1, 2}}, Axes{{-1}}}) {
      for (bool keep : {false, true}) {
        check_grad([=](const auto& v) { return reduce_sum(v[0], axes, keep); }, {x});
        check_grad([=](const auto& v) { return reduce_mean(v[0], axes, keep); }, {x});
        check_grad([=](const auto& v) { return reduce_max(v[0], axes, keep); }, {x});
        check_grad([=](const auto& v) { return reduce_logsumexp(v[0], axes, keep); }, {x});
      }
    }
  }
  SECTION("reduce_max shares the gradient among tied maxima") {
    Tensor x({3, 1, 3}, DType::float64);
    GradientTape tape;
    tape.watch(x);
    CHECK(tape.gradient(reduce_max(x), x).dense().to_vector() == std::vector<double>{0.5, 0, 0.5});
  }
}

TEST_CASE("softmax family: values, stability and gradients", "[autograd][ops][softmax]") {
  const Tensor logits = rand64({3, 5}, 51, -3, 3);
  SECTION("values") {
    CHECK_CLOSE(softmax(Tensor({0, std::log(3.0)}, DType::float64)).to_vector(), {0.25, 0.75});
    CHECK_CLOSE(log_softmax(Tensor({1000, 1000}, DType::float64)).to_vector(),
                {-std::log(2.0), -std::log(2.0)});
    Tensor big({{1000, 0}}, DType::float64);
    Tensor lab({{0, 1}}, DType::float64);
    CHECK_CLOSE(softmax_cross_entropy_with_logits(lab, big).to_vector(), {1000});
  }
  SECTION("gradients") {
    check_grad([](const auto& v) { return softmax(v[0]); }, {logits});
    check_grad([](const auto& v) { return log_softmax(v[0]); }, {logits});
    const Tensor labels = softmax(rand64({3, 5}, 52));
    check_grad([=](const auto& v) { return softmax_cross_entropy_with_logits(labels, v[0]); },
               {logits});
    const Tensor sparse = i64({4, 0, 2}, {3});
    check_grad(
        [=](const auto& v) { return sparse_softmax_cross_entropy_with_logits(sparse, v[0]); },
        {logits});
  }
  SECTION("labels not summing to 1 keep TF's kernel gradient softmax - labels") {
    Tensor x({0, 0}, DType::float64);
    Tensor labels({1, 1}, DType::float64);  // sums to 2
    GradientTape tape;
    tape.watch(x);
    tape.watch(labels);
    auto g = tape.gradient(softmax_cross_entropy_with_logits(labels, x), {x, labels});
    CHECK_CLOSE(g[0].dense().to_vector(), {-0.5, -0.5});  // the true derivative would be {0, 0}
    CHECK(g[1].is_none());
  }
  SECTION("sparse labels out of range are an error") {
    CHECK_THROWS_WITH(sparse_softmax_cross_entropy_with_logits(i64({5}, {1}), zeros({1, 5})),
                      Catch::Contains("out of range"));
    CHECK_THROWS_AS(sparse_softmax_cross_entropy_with_logits(i64({-1}, {1}), zeros({1, 5})),
                    InvalidArgumentError);
  }
}

TEST_CASE("the gradient checker catches a wrong gradient", "[autograd][gradcheck]") {
  // x*x recorded with the rule of x*3 (a deliberate bug): the checker must see it.
  const Fn wrong = [](const std::vector<Tensor>& v) {
    Tensor out = stop_gradient(v[0] * v[0]);
    return GradientTape::record("wrong", out, {v[0]}, [](const BackwardArgs& s) {
      return std::vector<Gradient>{s.grad * 3.0};
    });
  };
  const Tensor x = rand64({4}, 61, 2, 3);
  const auto r = check_gradients(wrong, {x});
  CHECK(r.max_abs_error > 0.5);
  // The report says which op, which input and element, and both values.
  REQUIRE_FALSE(r.ops.empty());
  CHECK(r.ops.back() == "wrong");
  CHECK(r.worst_input == 0);
  CHECK(r.worst_input_shape == Shape{4});
  // Both sides carry the same random output weight: their ratio is the buggy
  // rule's 3 over the true derivative 2x at the worst element.
  const double xw = x.to_vector()[r.worst_element];
  CHECK(r.analytic / r.numeric == Approx(3.0 / (2 * xw)).epsilon(1e-6));
  CHECK_THAT(r.describe(), Catch::Contains("wrong]") && Catch::Contains("shape [4]"));
}

TEST_CASE("backward rules are told which input gradients the tape wants", "[autograd][tape]") {
  // A recorded op with three inputs, of which the tape watches only some: the
  // rule must see needed[] = watched and floating, nothing else.
  std::vector<std::vector<bool>> seen;
  auto op = [&seen](const Tensor& a, const Tensor& b, const Tensor& labels) {
    Tensor out = stop_gradient(a * b);
    return GradientTape::record("probe", out, {a, b, labels}, [&seen](const BackwardArgs& s) {
      seen.push_back(s.needed);
      return std::vector<Gradient>{s.grad * s.in[1], s.grad * s.in[0], Gradient()};
    });
  };
  const Tensor a = rand64({3}, 1), b = rand64({3}, 2);
  const Tensor labels = Tensor::from_vector(std::vector<std::int64_t>{0, 1, 2}, {3});
  {
    GradientTape tape;
    tape.watch(a);  // labels are int64: never watchable, never needed
    auto g = tape.gradient(reduce_sum(op(a, b, labels)), {a, b});
    CHECK(g[0].is_dense());
    CHECK(g[1].is_none());  // b was not watched
  }
  {
    GradientTape tape;
    tape.watch(b);
    tape.gradient(reduce_sum(op(a, b, labels)), {b});
  }
  REQUIRE(seen.size() == 2);
  CHECK(seen[0] == std::vector<bool>{true, false, false});
  CHECK(seen[1] == std::vector<bool>{false, true, false});
}
