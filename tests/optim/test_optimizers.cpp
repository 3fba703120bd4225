// docs/semantics.md §5-§8: the optimizer contract and each update rule, checked
// against trajectories computed by hand from the formulas.
#include <cmath>
#include <limits>

#include "helpers.hpp"

using namespace tapeflow;

namespace {
Tensor f64(std::initializer_list<double> v) { return Tensor(v, DType::float64); }
Tensor i64(std::vector<std::int64_t> v) { return Tensor::from_vector(v, {v.size()}); }
}  // namespace

TEST_CASE("compute_gradients returns one pair per variable in var_list order",
          "[optim][contract]") {
  Variable a(f64({1, 2}), "a"), b(f64({3}), "b"), unused(f64({0}), "unused");
  SGD opt(0.1);
  SECTION("dense gradients and none for an unconnected variable") {
    auto gv = opt.compute_gradients([&] { return reduce_sum(a * a) + b * 3.0; }, {b, unused, a});
    REQUIRE(gv.size() == 3);
    CHECK(gv[0].second == b);
    CHECK(gv[0].first.dense().to_vector() == std::vector<double>{3});
    CHECK(gv[1].first.is_none());
    CHECK(gv[2].first.dense().to_vector() == std::vector<double>{2, 4});
  }
  SECTION("an empty var_list means every trainable variable, in creation order") {
    Variable frozen(f64({1}), "frozen", false);
    auto gv = opt.compute_gradients([&] { return reduce_sum(a) + reduce_sum(b); });
    std::vector<std::string> names;
    for (auto& [g, v] : gv) names.push_back(v.name());
    const auto all = trainable_variables();
    REQUIRE(gv.size() == all.size());
    for (std::size_t i = 0; i < all.size(); ++i) CHECK(gv[i].second == all[i]);
    CHECK(std::find(names.begin(), names.end(), frozen.name()) == names.end());
  }
  SECTION("a non-scalar loss is differentiated as its sum; grad_loss weights it") {
    auto gv = opt.compute_gradients([&] { return a * a; }, {a});
    CHECK(gv[0].first.dense().to_vector() == std::vector<double>{2, 4});
    gv = opt.compute_gradients([&] { return a * a; }, {a}, f64({1, -1}));
    CHECK(gv[0].first.dense().to_vector() == std::vector<double>{2, -4});
  }
  SECTION("a grad_loss that does not match the loss is rejected") {
    CHECK_THROWS_WITH(opt.compute_gradients([&] { return a * a; }, {a}, f64({1})),
                      Catch::Contains("shape") && Catch::Contains("grad_loss"));
    CHECK_THROWS_AS(opt.compute_gradients([&] { return a * a; }, {a}, Tensor{1.f, 1.f}),
                    DTypeError);
  }
  SECTION("duplicate or non-trainable variables in var_list are errors") {
    Variable frozen(f64({1}), "frozen", false);
    CHECK_THROWS_WITH(opt.compute_gradients([&] { return a * 1.0; }, {a, a}),
                      Catch::Contains("duplicate"));
    CHECK_THROWS_WITH(opt.compute_gradients([&] { return a * 1.0; }, {frozen}),
                      Catch::Contains("trainable"));
  }
  SECTION("a loss recorded on the caller's tape") {
    GradientTape tape;
    Tensor loss = reduce_sum(a * a);
    auto gv = opt.compute_gradients(loss, {a});
    CHECK(gv[0].first.dense().to_vector() == std::vector<double>{2, 4});
    CHECK_THROWS_WITH(opt.compute_gradients(f64({1}), {a}), Catch::Contains("GradientTape"));
  }
}

TEST_CASE("compute_gradients with nothing to differentiate", "[optim][contract]") {
  // ctest runs each case in its own process, so no trainable variable is alive.
  REQUIRE(trainable_variables().empty());
  SGD opt(0.1);
  CHECK_THROWS_AS(opt.compute_gradients([] { return Tensor(1.0); }), NoVariablesError);
  CHECK_THROWS_WITH(opt.compute_gradients([] { return Tensor(1.0); }),
                    Catch::Contains("No variables to optimize"));
}

TEST_CASE("apply_gradients validates everything before it writes anything", "[optim][contract]") {
  Variable w(f64({1, 2}), "w"), b(f64({3}), "b");
  Variable step = create_global_step();
  Adam opt(AdamOptions{0.1});
  SECTION("an empty list") {
    CHECK_THROWS_AS(opt.apply_gradients({}), NoVariablesError);
    CHECK_THROWS_WITH(opt.apply_gradients({}), Catch::Contains("No variables provided"));
  }
  SECTION("every gradient none: the error names the variables") {
    CHECK_THROWS_AS(opt.apply_gradients({{Gradient(), w}, {Gradient(), b}}), NoGradientsError);
    CHECK_THROWS_WITH(opt.apply_gradients({{Gradient(), w}, {Gradient(), b}}),
                      Catch::Contains("No gradients provided for any variable: ['w', 'b']"));
    CHECK_THROWS_WITH(
        opt.minimize([&] { return Tensor(1.0) * 1.0; }, nullptr, {w}),
        Catch::Contains("No gradients provided") && Catch::Contains("does not depend"));
  }
  SECTION("a duplicated variable") {
    CHECK_THROWS_WITH(opt.apply_gradients({{f64({1, 1}), w}, {f64({1, 1}), w}}),
                      Catch::Contains("duplicate"));
  }
  SECTION("a shape mismatch anywhere leaves every variable, slot and counter untouched") {
    CHECK_THROWS_WITH(
        opt.apply_gradients({{f64({1, 1}), w}, {f64({1, 1, 1}), b}}, &step),
        "apply_gradients: var and grad do not have the same shape: var 'b' is [1], grad is [3]");
    CHECK(w.value().to_vector() == std::vector<double>{1, 2});
    CHECK_FALSE(opt.get_slot(w, "m"));
    CHECK(step.value().item() == 0);
    CHECK(opt.iterations() == 0);
    CHECK(opt.beta1_power() == 1.0);  // powers not created yet
  }
  SECTION("a dtype mismatch") {
    CHECK_THROWS_WITH(opt.apply_gradients({{Tensor{1.f, 1.f}, w}}), Catch::Contains("dtype"));
  }
  SECTION("IndexedSlices checks") {
    Variable t(zeros({3, 2}, DType::float64), "t");
    auto slices = [&](Tensor values, Tensor idx, Shape s) {
      return Gradient(IndexedSlices{values, idx, s});
    };
    CHECK_THROWS_WITH(
        opt.apply_gradients({{slices(zeros({1, 2}, DType::float64), i64({3}), {3, 2}), t}}),
        Catch::Contains("out of range"));
    CHECK_THROWS_WITH(
        opt.apply_gradients({{slices(zeros({1, 3}, DType::float64), i64({0}), {3, 3}), t}}),
        Catch::Contains("shape"));
    CHECK_THROWS_WITH(
        opt.apply_gradients({{slices(zeros({2, 2}, DType::float64), i64({0}), {3, 2}), t}}),
        Catch::Contains("shape"));
    CHECK(t.value().to_vector() == std::vector<double>(6, 0.0));
  }
}

TEST_CASE("apply_gradients skips none, counts steps and creates slots lazily",
          "[optim][contract]") {
  Variable w(f64({1, 2}), "w"), b(f64({3}), "b");
  Variable step = create_global_step();
  Momentum opt(0.1, 0.9);
  CHECK(opt.get_slot_names() == std::vector<std::string>{"momentum"});
  opt.apply_gradients({{f64({1, 1}), w}, {Gradient(), b}}, &step);
  CHECK(step.value().item() == 1);
  CHECK(opt.iterations() == 1);
  CHECK(b.value().to_vector() == std::vector<double>{3});
  CHECK_FALSE(opt.get_slot(b, "momentum"));
  REQUIRE(opt.get_slot(w, "momentum"));
  CHECK(opt.get_slot(w, "momentum")->to_vector() == std::vector<double>{1, 1});
  CHECK_FALSE(opt.get_slot(w, "nope"));
  opt.apply_gradients({{f64({1, 1}), w}});  // no global step given: only iterations moves
  CHECK(step.value().item() == 1);
  CHECK(opt.iterations() == 2);
  SECTION("a non-trainable variable with a gradient is still updated") {
    Variable frozen(f64({1}), "frozen", false);
    SGD sgd(1.0);
    sgd.apply_gradients({{f64({0.5}), frozen}});
    CHECK(frozen.value().item() == 0.5);
  }
  SECTION("slot names") {
    CHECK(Adam().get_slot_names() == std::vector<std::string>{"m", "v"});
    CHECK(SGD(0.1).get_slot_names().empty());
  }
}

TEST_CASE("SGD: var -= lr * g, dense and sparse", "[optim][sgd]") {
  Variable w(f64({1, 2}), "w");
  SGD opt(0.1);
  const Tensor x = f64({3, 4});
  opt.minimize([&] { return reduce_sum(w * x); }, nullptr, {w});
  CHECK_CLOSE(w.value().to_vector(), {0.7, 1.6});
  opt.minimize([&] { return reduce_sum(w * x); }, nullptr, {w});
  CHECK_CLOSE(w.value().to_vector(), {0.4, 1.2});
  SECTION("sparse: scatter-subtract, duplicates accumulate, other rows untouched") {
    Variable t(Tensor({{1, 1}, {1, 1}, {1, 1}}, DType::float64), "t");
    opt.apply_gradients(
        {{IndexedSlices{Tensor({{1, 2}, {3, 4}, {5, 6}}, DType::float64), i64({2, 0, 2}), {3, 2}},
          t}});
    CHECK_CLOSE(t.value().to_vector(), {0.7, 0.6, 1, 1, 0.4, 0.2});
  }
  SECTION("float32 variables") {
    Variable v(Tensor{1.f}, "v");
    opt.apply_gradients({{Tensor{2.f}, v}});
    CHECK(v.value().item() == Approx(0.8));
  }
}

TEST_CASE("Momentum: accumulator and Nesterov's variant", "[optim][momentum]") {
  const double lr = 0.1, mu = 0.9;
  const std::vector<double> g{1, 2};
  SECTION("plain: a = mu a + g; w -= lr a") {
    Variable w(f64({0, 0}), "w");
    Momentum opt(lr, mu);
    opt.apply_gradients({{f64({1, 2}), w}});
    CHECK_CLOSE(w.value().to_vector(), {-0.1, -0.2});
    opt.apply_gradients({{f64({1, 2}), w}});  // a = 1.9 g
    CHECK_CLOSE(w.value().to_vector(), {-0.1 - 0.19, -0.2 - 0.38});
    CHECK_CLOSE(opt.get_slot(w, "momentum")->to_vector(), {1.9, 3.8});
  }
  SECTION("Nesterov: w -= lr g + lr mu a with the new a") {
    Variable w(f64({0, 0}), "w");
    Momentum opt(lr, mu, /*use_nesterov=*/true);
    opt.apply_gradients({{f64({1, 2}), w}});  // a = g: step = 0.1 g + 0.09 g
    CHECK_CLOSE(w.value().to_vector(), {-0.19, -0.38});
    opt.apply_gradients({{f64({1, 2}), w}});  // a = 1.9 g: step = 0.1 g + 0.171 g
    CHECK_CLOSE(w.value().to_vector(), {-0.19 - 0.271, -0.38 - 0.542});
  }
  SECTION("sparse: only indexed rows move and keep their accumulator; duplicates merged") {
    Variable t(zeros({3, 1}, DType::float64), "t");
    Variable d(zeros({3, 1}, DType::float64), "d");
    Momentum sparse(lr, mu), dense(lr, mu);
    const IndexedSlices s1{reshape(f64({1, 2}), {2, 1}), i64({0, 0}), {3, 1}};
    sparse.apply_gradients({{s1, t}});
    dense.apply_gradients({{reshape(f64({3, 0, 0}), {3, 1}), d}});
    CHECK(t.value().to_vector() == d.value().to_vector());  // step 1 agrees
    const IndexedSlices s2{reshape(f64({1}), {1, 1}), i64({1}), {3, 1}};
    sparse.apply_gradients({{s2, t}});
    dense.apply_gradients({{reshape(f64({0, 1, 0}), {3, 1}), d}});
    // Row 0 got no sparse gradient: it keeps a = 3 and stays; densely it decays to 2.7 and moves.
    CHECK_CLOSE(t.value().to_vector(), {-0.3, -0.1, 0});
    CHECK_CLOSE(d.value().to_vector(), {-0.3 - 0.27, -0.1, 0});
    CHECK_CLOSE(sparse.get_slot(t, "momentum")->to_vector(), {3, 1, 0});
  }
  SECTION("a none gradient neither creates nor decays the accumulator") {
    Variable w(f64({1}), "w"), u(f64({1}), "u");
    Momentum opt(lr, mu);
    opt.apply_gradients({{f64({1}), w}, {f64({1}), u}});
    opt.apply_gradients({{f64({1}), w}, {Gradient(), u}});
    CHECK_CLOSE(opt.get_slot(u, "momentum")->to_vector(), {1});
  }
  SECTION("hyperparameters are validated") {
    CHECK_THROWS_WITH(Momentum(0.1, -0.5), Catch::Contains("momentum"));
    CHECK_THROWS_WITH(Momentum(-0.1, 0.5), Catch::Contains("learning_rate"));
    CHECK_THROWS_WITH(Momentum(std::nan(""), 0.5), Catch::Contains("learning_rate"));
  }
}

namespace {
// An independent transcription of docs/semantics.md §8's dense rule.
struct AdamRef {
  double lr, b1, b2, eps;
  double m = 0, v = 0;
  double step(double w, double g, int t) {
    const double p1 = std::pow(b1, t), p2 = std::pow(b2, t);
    const double lr_t = lr * std::sqrt(1 - p2) / (1 - p1);
    m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g * g;
    return w - lr_t * m / (std::sqrt(v) + eps);
  }
};
}  // namespace

TEST_CASE("Adam: TF1's bias-corrected step with epsilon hat", "[optim][adam]") {
  SECTION("two dense steps follow the formula") {
    Variable w(f64({1.0, -1.0}), "w");
    Adam opt(AdamOptions(0.01).epsilon(1e-3));
    AdamRef r0{0.01, 0.9, 0.999, 1e-3}, r1{0.01, 0.9, 0.999, 1e-3};
    double e0 = 1, e1 = -1;
    const double gs[2][2] = {{0.5, -0.2}, {0.1, 0.3}};
    for (int t = 1; t <= 2; ++t) {
      opt.apply_gradients({{f64({gs[t - 1][0], gs[t - 1][1]}), w}});
      e0 = r0.step(e0, gs[t - 1][0], t);
      e1 = r1.step(e1, gs[t - 1][1], t);
      CHECK_CLOSE_TOL(w.value().to_vector(), 1e-12, {e0, e1});
    }
    CHECK_CLOSE(opt.get_slot(w, "m")->to_vector(), {r0.m, r1.m});
    CHECK_CLOSE(opt.get_slot(w, "v")->to_vector(), {r0.v, r1.v});
  }
  SECTION("epsilon is added to sqrt(v) before the bias correction, unlike PyTorch") {
    Variable w(f64({0}), "w");
    Adam opt(AdamOptions(1.0).epsilon(0.1));
    opt.apply_gradients({{f64({1}), w}});
    const double tf = -std::sqrt(0.001) / 0.1 * 0.1 / (std::sqrt(0.001) + 0.1);
    const double torch = -1.0 / (1.0 + 0.1);  // m_hat / (sqrt(v_hat) + eps)
    CHECK(w.value().item() == Approx(tf).epsilon(1e-12));
    CHECK(std::abs(w.value().item() - torch) > 0.1);
  }
  SECTION("the powers advance once per call, for all variables together") {
    Variable a(f64({0}), "a"), b(f64({0}), "b"), c(f64({0}), "c");
    Adam opt;
    opt.apply_gradients({{f64({1}), a}, {f64({1}), b}, {f64({1}), c}});
    CHECK(opt.beta1_power() == Approx(0.81));
    CHECK(opt.beta2_power() == Approx(0.999 * 0.999));
    opt.apply_gradients(
        {{f64({1}), a}, {Gradient(), b}, {Gradient(), c}});  // even with none entries
    CHECK(opt.beta1_power() == Approx(0.729));
  }
  SECTION("a variable first updated at t = 3 gets the bias correction of step 3 (~0.0064)") {
    Variable a(f64({0}), "a"), late(f64({0}), "late");
    Adam opt(AdamOptions{0.01});
    opt.apply_gradients({{f64({0.5}), a}, {Gradient(), late}});
    opt.apply_gradients({{f64({0.5}), a}, {Gradient(), late}});
    opt.apply_gradients({{f64({0.5}), a}, {f64({0.5}), late}});
    CHECK(-late.value().item() ==
          Approx(0.01 * std::sqrt(1 - std::pow(0.999, 3)) / (1 - std::pow(0.9, 3)) * 0.05 /
                 (std::sqrt(0.00025) + 1e-8)));
    CHECK(-late.value().item() == Approx(0.0064).margin(1e-4));
  }
  SECTION("sparse, not lazy: equals the dense update with the zero-filled (merged) gradient") {
    Variable s(Tensor({{1, 2}, {3, 4}, {5, 6}}, DType::float64), "s");
    Variable d(Tensor({{1, 2}, {3, 4}, {5, 6}}, DType::float64), "d");
    Adam sparse(AdamOptions{0.1}), dense(AdamOptions{0.1});
    for (int t = 0; t < 3; ++t) {
      IndexedSlices g{Tensor({{0.5, -1}, {0.25, 2}}, DType::float64), i64({2, 2}), {3, 2}};
      sparse.apply_gradients({{g, s}});
      dense.apply_gradients({{g.to_dense(), d}});
    }
    CHECK_CLOSE_TOL(s.value().to_vector(), 1e-12, d.value().to_vector());
  }
  SECTION("sparse, lazy: only the indexed rows change") {
    Variable s(Tensor({{1, 2}, {3, 4}, {5, 6}}, DType::float64), "s");
    Adam lazy(AdamOptions(0.1).lazy(true));
    AdamRef r{0.1, 0.9, 0.999, 1e-8};
    lazy.apply_gradients(
        {{Gradient(IndexedSlices{Tensor({{0.5, 0.5}}, DType::float64), i64({1}), {3, 2}}), s}});
    lazy.apply_gradients(
        {{Gradient(IndexedSlices{Tensor({{0.5, 0.5}}, DType::float64), i64({1}), {3, 2}}), s}});
    double e = 3;
    e = r.step(e, 0.5, 1);
    e = r.step(e, 0.5, 2);
    const auto v = s.value().to_vector();
    CHECK(v[0] == 1);
    CHECK(v[5] == 6);
    CHECK(v[2] == Approx(e).epsilon(1e-12));
  }
  SECTION("hyperparameters are validated with their names") {
    CHECK_THROWS_WITH(Adam(AdamOptions(0.001).beta1(1.0)), "Adam: beta1 must be in [0, 1), got 1");
    CHECK_THROWS_WITH(Adam(AdamOptions(0.001).beta2(-0.1)), Catch::Contains("beta2"));
    CHECK_THROWS_WITH(Adam(AdamOptions(0.001).epsilon(-1)), Catch::Contains("epsilon"));
    CHECK_THROWS_WITH(Adam(AdamOptions{std::numeric_limits<double>::infinity()}),
                      Catch::Contains("learning_rate"));
  }
}

TEST_CASE("merge_duplicates sums rows with equal indices", "[optim][sparse]") {
  IndexedSlices s{Tensor({{1, 2}, {3, 4}, {5, 6}}, DType::float64), i64({4, 1, 4}), {5, 2}};
  IndexedSlices m = merge_duplicates(s);
  CHECK(m.indices.to_vector() == std::vector<double>{4, 1});
  CHECK(m.values.to_vector() == std::vector<double>{6, 8, 3, 4});
  CHECK(m.to_dense().to_vector() == s.to_dense().to_vector());
}

TEST_CASE("compute_gradients_and_loss hands back the loss it computed", "[optim][contract]") {
  Variable w(f64({1, 2}), "w");
  SGD opt(0.1);
  auto [gv, loss] = opt.compute_gradients_and_loss([&] { return reduce_sum(square(w)); }, {w});
  CHECK(loss.item() == 5);  // 1 + 4
  REQUIRE(gv.size() == 1);
  CHECK(gv[0].first.dense().to_vector() == std::vector<double>{2, 4});
}

TEST_CASE("options read like LibTorch's and are validated by field", "[optim][options]") {
  const AdamOptions o = AdamOptions(0.01).beta1(0.5).beta2(0.9).epsilon(1e-3).lazy(true);
  CHECK(o.learning_rate().at(0) == 0.01);
  CHECK(o.beta1() == 0.5);
  CHECK(o.beta2() == 0.9);
  CHECK(o.epsilon() == 1e-3);
  CHECK(o.lazy());
  // The options reach the update: one dense step of Adam with beta1 = 0.5,
  // beta2 = 0.9, epsilon = 1e-3 and g = 2: m = 1, v = 0.4,
  // lr_t = 0.01 sqrt(0.1) / 0.5, w = 1 - lr_t * 1 / (sqrt(0.4) + 1e-3).
  Variable w(f64({1}), "w");
  Adam adam(o);
  adam.apply_gradients({{f64({2}), w}});
  const double lr_t = 0.01 * std::sqrt(1 - 0.9) / (1 - 0.5);
  CHECK(w.value().item() == Approx(1 - lr_t / (std::sqrt(0.4) + 1e-3)).epsilon(1e-12));

  Variable u(f64({1}), "u");
  Momentum m(MomentumOptions(0.1).momentum(0.5).use_nesterov(true));
  m.apply_gradients({{f64({1}), u}});  // a = 1; w -= 0.1 * 1 + 0.1 * 0.5 * 1
  CHECK(u.value().item() == Approx(1 - 0.15));
  CHECK_THROWS_WITH(Momentum(MomentumOptions(0.1)), Catch::Contains("momentum"));
}

TEST_CASE("Adam's beta powers are non-slot scalars owned by the base", "[optim][adam][non_slot]") {
  Variable w(f64({1}), "w");
  Adam opt(AdamOptions(0.1).beta1(0.5).beta2(0.25));
  CHECK_FALSE(opt.get_non_slot("beta1_power"));  // created by the first successful apply
  CHECK(opt.state().count("beta1_power") == 0);
  opt.apply_gradients({{f64({1}), w}});
  // Created as beta, then advanced once at the end of the call.
  CHECK(*opt.get_non_slot("beta1_power") == 0.25);
  CHECK(*opt.get_non_slot("beta2_power") == 0.0625);
  const auto state = opt.state();
  CHECK(state.at("beta1_power").item() == 0.25);
  // A fresh optimizer restored from that state continues the same powers.
  Adam again(AdamOptions(0.1).beta1(0.5).beta2(0.25));
  again.load_state(state, {w});
  CHECK(*again.get_non_slot("beta2_power") == 0.0625);
  CHECK(again.iterations() == 1);
}
