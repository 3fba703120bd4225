// docs/semantics.md §9: schedules, and the step they are read at.
#include <cmath>

#include "helpers.hpp"

using namespace tapeflow;

TEST_CASE("exponential_decay, piecewise_constant and cosine_decay follow TF's formulas",
          "[optim][schedule]") {
  auto e = exponential_decay(0.1, 10, 0.5);
  CHECK(e(0) == Approx(0.1));
  CHECK(e(5) == Approx(0.1 * std::pow(0.5, 0.5)));
  CHECK(e(20) == Approx(0.025));
  auto st = exponential_decay(0.1, 10, 0.5, /*staircase=*/true);
  CHECK(st(9) == Approx(0.1));
  CHECK(st(10) == Approx(0.05));
  auto p = piecewise_constant({10, 20}, {1.0, 0.5, 0.1});
  CHECK(p(0) == 1.0);
  CHECK(p(10) == 1.0);  // a boundary step still uses the earlier value
  CHECK(p(11) == 0.5);
  CHECK(p(20) == 0.5);
  CHECK(p(21) == 0.1);
  auto c = cosine_decay(1.0, 100, 0.1);
  CHECK(c(0) == Approx(1.0));
  CHECK(c(50) == Approx(0.9 * 0.5 + 0.1));
  CHECK(c(100) == Approx(0.1));
  CHECK(c(500) == Approx(0.1));  // held after decay_steps
}

TEST_CASE("schedules validate their arguments", "[optim][schedule]") {
  CHECK_THROWS_WITH(exponential_decay(0.1, 0, 0.5), Catch::Contains("decay_steps"));
  CHECK_THROWS_WITH(exponential_decay(0.1, 10, 0), Catch::Contains("decay_rate"));
  CHECK_THROWS_WITH(exponential_decay(0.1, 10, INFINITY), Catch::Contains("decay_rate"));
  CHECK_THROWS_WITH(piecewise_constant({10}, {1.0}), Catch::Contains("boundaries"));
  CHECK_THROWS_WITH(piecewise_constant({10, 10}, {1, 2, 3}), Catch::Contains("boundaries"));
  CHECK_THROWS_WITH(cosine_decay(-1, 10), Catch::Contains("learning_rate"));
  CHECK_THROWS_WITH(cosine_decay(1, -5), Catch::Contains("decay_steps"));
}

TEST_CASE("the learning rate is read at the step before this call's increment",
          "[optim][schedule]") {
  SECTION("with a global step") {
    Variable w(Tensor({0}, DType::float64), "w");
    Variable step = create_global_step();
    SGD opt(piecewise_constant({1}, {1.0, 0.5}));
    const std::vector<double> expected{-1, -2, -2.5};  // lr at steps 0, 1, 2 = 1, 1, 0.5
    for (double e : expected) {
      opt.apply_gradients({{Tensor({1}, DType::float64), w}}, &step);
      CHECK(w.value().item() == e);
    }
    CHECK(step.value().item() == 3);
  }
  SECTION("without one, the optimizer's iterations") {
    Variable w(Tensor({0}, DType::float64), "w");
    SGD opt(exponential_decay(1.0, 1, 0.5));
    opt.apply_gradients({{Tensor({1}, DType::float64), w}});
    opt.apply_gradients({{Tensor({1}, DType::float64), w}});
    CHECK(w.value().item() == -1.5);
  }
}
