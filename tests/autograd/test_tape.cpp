#include "helpers.hpp"

using namespace tapeflow;

TEST_CASE("the tape differentiates a composite with hand-computed values", "[autograd][tape]") {
  // y = sum(w * x + b), dy/dw = x, dy/db = number of elements.
  Variable w(Tensor{1, 2, 3}, "w");
  Variable b(Tensor(0.5f), "b");
  Tensor x{4, 5, 6};
  GradientTape tape;
  Tensor y = reduce_sum(w * x + b);
  auto g = tape.gradient(y, std::vector<Variable>{w, b});
  CHECK(y.item() == Approx(4 + 10 + 18 + 1.5));
  CHECK(g[0].dense().to_vector() == std::vector<double>{4, 5, 6});
  CHECK(g[1].dense().item() == 3);
}

TEST_CASE("unconnected sources get none, or zeros when asked", "[autograd][tape]") {
  Variable w(Tensor{1, 2}, "w");
  Variable u(Tensor{3, 4}, "u");
  SECTION("none by default") {
    GradientTape tape;
    Tensor y = reduce_sum(w * w);
    auto g = tape.gradient(y, std::vector<Variable>{w, u});
    CHECK(g[0].is_dense());
    CHECK(g[1].is_none());
  }
  SECTION("zeros on request") {
    GradientTape tape;
    Tensor y = reduce_sum(w * w);
    auto g = tape.gradient(y, std::vector<Variable>{u}, std::nullopt, UnconnectedGradients::zero);
    CHECK(g[0].dense().to_vector() == std::vector<double>{0, 0});
  }
  SECTION("a path that carries zeros gives zeros, not none") {
    GradientTape tape;
    Tensor y = reduce_sum(relu(w * -1.0));
    auto g = tape.gradient(y, w.value());
    REQUIRE(g.is_dense());
    CHECK(g.dense().to_vector() == std::vector<double>{0, 0});
  }
  SECTION("stop_gradient and integer casts cut the path") {
    GradientTape tape;
    Tensor y = reduce_sum(stop_gradient(w) * 2.0) +
               reduce_sum(cast(cast(u, DType::int64), DType::float32));
    auto g = tape.gradient(y, std::vector<Variable>{w, u});
    CHECK(g[0].is_none());
    CHECK(g[1].is_none());
  }
}

TEST_CASE("the initial gradient is ones, also for a non-scalar target", "[autograd][tape]") {
  Variable w(Tensor{1, 2, 3}, "w");
  SECTION("implicit ones = gradient of the sum") {
    GradientTape tape;
    Tensor y = w * w;
    CHECK(tape.gradient(y, w.value()).dense().to_vector() == std::vector<double>{2, 4, 6});
  }
  SECTION("output_gradients weight the target") {
    GradientTape tape;
    Tensor y = w * w;
    auto g = tape.gradient(y, w.value(), Tensor{1, 0, -1});
    CHECK(g.dense().to_vector() == std::vector<double>{2, 0, -6});
  }
  SECTION("output_gradients of the wrong shape or dtype are rejected") {
    GradientTape tape(true);
    Tensor y = w * w;
    CHECK_THROWS_WITH(tape.gradient(y, w.value(), Tensor{1, 2}),
                      Catch::Contains("shape") && Catch::Contains("[3]") && Catch::Contains("[2]"));
    CHECK_THROWS_AS(tape.gradient(y, w.value(), Tensor({1, 2, 3}, DType::float64)), DTypeError);
  }
}

TEST_CASE("a non-persistent tape is used once, a persistent one many times", "[autograd][tape]") {
  Variable w(Tensor{2}, "w");
  SECTION("non-persistent") {
    GradientTape tape;
    Tensor y = w * w;
    tape.gradient(y, w.value());
    CHECK_THROWS_WITH(tape.gradient(y, w.value()), Catch::Contains("persistent"));
  }
  SECTION("persistent") {
    GradientTape tape(/*persistent=*/true);
    Tensor y = w * w;
    Tensor z = y * 3.0;
    CHECK(tape.gradient(y, w.value()).dense().item() == 4);
    CHECK(tape.gradient(z, w.value()).dense().item() == 12);
  }
}

TEST_CASE("tensors are watched explicitly, trainable variables automatically", "[autograd][tape]") {
  Tensor x{3};
  Variable frozen(Tensor{2}, "frozen", /*trainable=*/false);
  SECTION("an unwatched constant gets none") {
    GradientTape tape;
    Tensor y = x * x;
    CHECK(tape.gradient(y, x).is_none());
  }
  SECTION("a watched constant gets its gradient") {
    GradientTape tape;
    tape.watch(x);
    Tensor y = x * x;
    CHECK(tape.gradient(y, x).dense().item() == 6);
  }
  SECTION("a non-trainable variable needs watch") {
    GradientTape tape(true);
    Tensor y = frozen * x;
    CHECK(tape.gradient(y, frozen.value()).is_none());
  }
  SECTION("outside any tape nothing is recorded") {
    Variable w(Tensor{1}, "w");
    Tensor y = w * w;
    GradientTape tape;
    CHECK(tape.size() == 0);
    CHECK(tape.gradient(y, w.value()).is_none());
  }
  SECTION("NoRecordScope pauses recording") {
    Variable w(Tensor{1}, "w");
    GradientTape tape;
    {
      NoRecordScope pause;
      Tensor y = w * w;
    }
    CHECK(tape.size() == 0);
  }
}

TEST_CASE("contributions from several paths add up", "[autograd][tape]") {
  Variable w(Tensor{{1, 2}, {3, 4}, {5, 6}}, "table");
  SECTION("dense + dense") {
    GradientTape tape;
    Tensor y = reduce_sum(w * 2.0) + reduce_sum(w * w);
    CHECK(tape.gradient(y, w.value()).dense().to_vector() ==
          std::vector<double>{4, 6, 8, 10, 12, 14});
  }
  SECTION("two gathers give one IndexedSlices with the indices concatenated") {
    GradientTape tape;
    Tensor idx1 = Tensor::from_vector(std::vector<std::int64_t>{2, 0}, {2});
    Tensor idx2 = Tensor::from_vector(std::vector<std::int64_t>{2}, {1});
    Tensor y = reduce_sum(gather(w, idx1)) + reduce_sum(gather(w, idx2) * 3.0);
    Gradient g = tape.gradient(y, w.value());
    REQUIRE(g.is_sparse());
    auto idx = g.sparse().indices.to_vector();
    std::sort(idx.begin(), idx.end());
    CHECK(idx == std::vector<double>{0, 2, 2});
    CHECK(g.sparse().dense_shape == Shape{3, 2});
    CHECK(g.to_dense().to_vector() == std::vector<double>{1, 1, 0, 0, 4, 4});
  }
  SECTION("sparse + dense becomes dense") {
    GradientTape tape;
    Tensor idx = Tensor::from_vector(std::vector<std::int64_t>{1, 1}, {2});
    Tensor y = reduce_sum(gather(w, idx)) + reduce_sum(w);
    Gradient g = tape.gradient(y, w.value());
    REQUIRE(g.is_dense());
    CHECK(g.dense().to_vector() == std::vector<double>{1, 1, 3, 3, 1, 1});
  }
}

TEST_CASE("nested tapes both record", "[autograd][tape]") {
  Variable w(Tensor{3}, "w");
  GradientTape outer;
  GradientTape inner;
  Tensor y = w * w;
  CHECK(inner.gradient(y, w.value()).dense().item() == 6);
  CHECK(outer.gradient(y, w.value()).dense().item() == 6);
}

TEST_CASE("variables: names, assignment checks and the trainable collection",
          "[autograd][variable]") {
  const auto before = trainable_variables().size();
  {
    Variable a(Tensor{1}, "layer");
    Variable b(Tensor{1});
    Variable c(Tensor{1}, "frozen_thing", false);
    Variable d(Tensor{1});
    CHECK(a.name() == "layer");
    CHECK(b.name().rfind("Variable", 0) == 0);
    CHECK(b.name() != d.name());
    auto all = trainable_variables();
    CHECK(all.size() == before + 3);
    CHECK(all[before] == a);
    CHECK(all[before + 1] == b);
    CHECK(all[before + 2] == d);
    CHECK_THROWS_WITH(a.assign(Tensor{1, 2}), Catch::Contains("shape") && Catch::Contains("layer"));
    CHECK_THROWS_AS(a.assign(Tensor({1}, DType::float64)), DTypeError);
    a.assign(Tensor{5});
    CHECK(a.value().item() == 5);
    a.assign_sub(Tensor{2});
    CHECK(a.value().item() == 3);
  }
  CHECK(trainable_variables().size() == before);
  CHECK_THROWS_AS(Variable(Tensor(1), "int"), DTypeError);
}

TEST_CASE("a snapshot of a variable does not change when the variable is updated",
          "[autograd][variable]") {
  Variable v(Tensor{1, 2}, "v");
  Tensor snapshot = v.value();
  v.mutable_data<float>()[0] = 10;
  CHECK(snapshot.to_vector() == std::vector<double>{1, 2});
  CHECK(v.value().to_vector() == std::vector<double>{10, 2});
}

TEST_CASE("tape.gradient takes a braced list of variables or of tensors", "[autograd][tape]") {
  Variable w(Tensor({2.0}, DType::float64), "w"), b(Tensor({3.0}, DType::float64), "b");
  {
    GradientTape tape;
    Tensor y = reduce_sum(w * w + b);
    auto g = tape.gradient(y, {w, b});
    REQUIRE(g.size() == 2);
    CHECK(g[0].dense().item() == 4);
    CHECK(g[1].dense().item() == 1);
  }
  const Tensor x(Tensor({5.0}, DType::float64)), z(Tensor({7.0}, DType::float64));
  GradientTape tape;
  tape.watch(x);
  tape.watch(z);
  auto g = tape.gradient(reduce_sum(x * z), {x, z});
  CHECK(g[0].dense().item() == 7);
  CHECK(g[1].dense().item() == 5);
}

TEST_CASE("the ready hook reports each gradient as soon as it is final, last layer first",
          "[autograd][tape]") {
  // y = sum(w2 * relu(w1 * x)) + sum(w1): w1 is read by two ops, the first of
  // which is the first op on the tape, so its gradient is final only at the
  // end; w2's is final after the second-to-last op. u is never read.
  Variable w1(Tensor{1.0, -2.0}, "w1");
  Variable w2(Tensor{3.0, 4.0}, "w2");
  Variable u(Tensor{5.0}, "u");
  const Tensor x{0.5, 0.25};
  GradientTape tape(/*persistent=*/true);
  const Tensor h = relu(w1 * x);
  const Tensor y = reduce_sum(w2 * h) + reduce_sum(w1);
  std::vector<std::size_t> order;
  std::vector<std::vector<double>> reported(3);
  auto g = tape.gradient(y, std::vector<Variable>{w1, w2, u}, std::nullopt,
                         UnconnectedGradients::none, [&](std::size_t k, const Gradient& grad) {
                           order.push_back(k);
                           if (!grad.is_none()) reported[k] = grad.dense().to_vector();
                         });
  CHECK(order == std::vector<std::size_t>{2, 1, 0});
  // d/dw2 = relu(w1 x) = [0.5, 0]; d/dw1 = w2 * x * [w1 x > 0] + 1 = [2.5, 1].
  CHECK(reported[1] == std::vector<double>{0.5, 0});
  CHECK(reported[0] == std::vector<double>{2.5, 1});
  CHECK(g[0].dense().to_vector() == reported[0]);
  CHECK(g[1].dense().to_vector() == reported[1]);
  CHECK(g[2].is_none());

  // The hook fires before the rules of earlier ops run: b is reported before
  // the rule of the first op (a probe that logs when it is differentiated).
  std::vector<std::string> events;
  Variable a(Tensor{2.0}, "a");
  Variable b(Tensor{3.0}, "b");
  GradientTape t2;
  const Tensor first =
      GradientTape::record("probe", Tensor{4.0}, {a.value()}, [&](const BackwardArgs& args) {
        events.push_back("probe rule");
        return std::vector<Gradient>{Gradient(args.grad * 2.0)};
      });
  const Tensor z = reduce_sum(first * b);
  t2.gradient(z, std::vector<Variable>{a, b}, std::nullopt, UnconnectedGradients::none,
              [&](std::size_t k, const Gradient& grad) {
                events.push_back(fmt::format("{}={}", k, grad.dense().item()));
              });
  CHECK(events == std::vector<std::string>{"1=4", "probe rule", "0=6"});
}
