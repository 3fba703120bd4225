// check_numerics, the optimizer's check after updates, and a NaN injected in
// the middle of training under each non-finite policy (docs/semantics.md §4).
#include <limits>

#include "helpers.hpp"

using namespace tapeflow;

namespace {
const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();
}  // namespace

TEST_CASE("check_numerics passes finite tensors and names the first bad element",
          "[autograd][numerics]") {
  const Tensor ok = Tensor({{1, 2}, {3, 4}}, DType::float64);
  CHECK(check_numerics(ok, "ok").to_vector() == ok.to_vector());
  const Tensor bad = Tensor({{1, 2}, {kInf, kNaN}}, DType::float64);
  CHECK_THROWS_AS(check_numerics(bad, "logits"), NonFiniteError);
  CHECK_THROWS_WITH(check_numerics(bad, "logits"), Catch::Contains("logits") &&
                                                       Catch::Contains("[1, 0]") &&
                                                       Catch::Contains("inf"));
  // The gradient passes through unchanged, and is checked too.
  Variable w(Tensor({2.0, 3.0}, DType::float64), "w");
  {
    GradientTape tape;
    const Tensor y = reduce_sum(check_numerics(w * w, "y"));
    CHECK(tape.gradient(y, {w})[0].dense().to_vector() == std::vector<double>{4, 6});
  }
  // The finite-difference check every op gets.
  tf_test::check_grad(
      [](const std::vector<Tensor>& v) { return check_numerics(v[0] * v[0], "square"); },
      {tf_test::rand64({3, 2}, 7)});
  GradientTape tape;
  const Tensor y = reduce_sum(check_numerics(w, "w") * Tensor({kInf, 1.0}, DType::float64));
  CHECK_THROWS_WITH(tape.gradient(y, {w}), Catch::Contains("w (gradient)"));
}

TEST_CASE("the optimizer's check_numerics reports variables that went non-finite",
          "[optim][numerics]") {
  Variable a(Tensor({1.0}, DType::float64), "a"), b(Tensor({1.0}, DType::float64), "b");
  SGD opt(1.0);
  opt.set_check_numerics(true);
  opt.apply_gradients({{Tensor({0.5}, DType::float64), a}, {Tensor({0.5}, DType::float64), b}});
  CHECK(opt.iterations() == 1);
  CHECK_THROWS_WITH(opt.apply_gradients(
                        {{Tensor({kInf}, DType::float64), a}, {Tensor({0.5}, DType::float64), b}}),
                    Catch::Contains("['a']") && Catch::Contains("update 2"));
}

namespace {
// Trains w (two weights) on y = 2x with SGD, with the gradient of step 3
// replaced by NaN through a user transform placed before the policy check
// would see it: the loss itself is made NaN at that step.
struct Run {
  std::vector<double> w;
  std::int64_t iterations;
  std::int64_t skipped;
  std::optional<double> momentum_row;
};
Run train(clip::NonFinite policy, bool inject) {
  Variable w(Tensor({0.0, 0.0}, DType::float64), "w");
  Momentum opt(0.1, 0.5);
  opt.set_clipping(clip::by_global_norm(10.0), policy);
  const Tensor x = Tensor({1.0, 2.0}, DType::float64);
  for (int step = 0; step < 6; ++step) {
    const double poison = inject && step == 3 ? kNaN : 0.0;
    opt.minimize([&] {
      return reduce_sum(square(w * x - 2.0 * x)) +
             reduce_sum(w * Tensor({poison, 0.0}, DType::float64));
    });
  }
  return {w.value().to_vector(), opt.iterations(), opt.clip_report().skipped_steps,
          opt.get_slot(w, "momentum")
              ? std::optional<double>(opt.get_slot(w, "momentum")->to_vector()[1])
              : std::nullopt};
}
}  // namespace

TEST_CASE("a NaN injected mid-training: raise stops, skip drops the step, propagate spreads",
          "[optim][numerics][e2e]") {
  SECTION("raise: NonFiniteError at step 3, nothing of that step applied") {
    Variable w(Tensor({0.0, 0.0}, DType::float64), "w");
    Momentum opt(0.1, 0.5);
    opt.set_clipping(clip::by_global_norm(10.0), clip::NonFinite::raise);
    const Tensor x = Tensor({1.0, 2.0}, DType::float64);
    std::vector<double> before;
    for (int step = 0; step < 4; ++step) {
      const double poison = step == 3 ? kNaN : 0.0;
      auto loss = [&] {
        return reduce_sum(square(w * x - 2.0 * x)) +
               reduce_sum(w * Tensor({poison, 0.0}, DType::float64));
      };
      if (step < 3) {
        opt.minimize(loss);
        before = w.value().to_vector();
      } else {
        const auto slot_before = opt.get_slot(w, "momentum")->to_vector();
        CHECK_THROWS_WITH(opt.minimize(loss), Catch::Contains("'w'"));
        CHECK(w.value().to_vector() == before);
        CHECK(opt.get_slot(w, "momentum")->to_vector() == slot_before);
        CHECK(opt.iterations() == 3);
      }
    }
  }
  SECTION("skip: the run equals a run with that step left out") {
    const Run skipped = train(clip::NonFinite::skip, /*inject=*/true);
    CHECK(skipped.iterations == 5);
    CHECK(skipped.skipped == 1);
    // The same training with 5 clean steps ends identically: the skipped step
    // changed nothing (variables, slots, counters).
    Variable w(Tensor({0.0, 0.0}, DType::float64), "w");
    Momentum opt(0.1, 0.5);
    opt.set_clipping(clip::by_global_norm(10.0), clip::NonFinite::skip);
    const Tensor x = Tensor({1.0, 2.0}, DType::float64);
    for (int step = 0; step < 5; ++step) {
      opt.minimize([&] { return reduce_sum(square(w * x - 2.0 * x)); });
    }
    CHECK(skipped.w == w.value().to_vector());
    CHECK(*skipped.momentum_row == opt.get_slot(w, "momentum")->to_vector()[1]);
  }
  SECTION("propagate: TF's rule, the global-norm clip turns every gradient NaN") {
    const Run spread = train(clip::NonFinite::propagate, /*inject=*/true);
    CHECK(spread.iterations == 6);
    CHECK(std::isnan(spread.w[0]));
    CHECK(std::isnan(spread.w[1]));  // its own gradient was finite: the clip spread the NaN
    const Run clean = train(clip::NonFinite::propagate, /*inject=*/false);
    CHECK_FALSE(std::isnan(clean.w[1]));
  }
}
