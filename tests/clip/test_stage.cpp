// docs/semantics.md §4: the clipping stage as a transform, and installed on an optimizer.
#include <limits>

#include "helpers.hpp"

using namespace tapeflow;
using tapeflow::clip::NonFinite;

namespace {
const double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::numeric_limits<double>::quiet_NaN();
Tensor f64(std::initializer_list<double> v) { return Tensor(v, DType::float64); }
}  // namespace

TEST_CASE("transforms map the list, pass none through, and chain left to right", "[clip][stage]") {
  Variable a(f64({0, 0}), "a"), b(f64({0}), "b"), c(f64({0, 0}), "c");
  const GradsAndVars gv{{f64({3, 0}), a}, {Gradient(), b}, {f64({0, -4}), c}};

  SECTION("each factory keeps length, order and none") {
    for (const auto& t : {clip::identity(), clip::by_value(-1, 1), clip::by_norm(1),
                          clip::by_average_norm(1), clip::by_global_norm(1)}) {
      GradsAndVars out = t(gv);
      REQUIRE(out.size() == 3);
      CHECK(out[0].second == a);
      CHECK(out[1].first.is_none());
      CHECK(out[2].second == c);
    }
  }
  SECTION("by_global_norm with a report") {
    clip::Report report;
    GradsAndVars out = clip::by_global_norm(1)(gv, report);
    CHECK_CLOSE(out[0].first.dense().to_vector(), {0.6, 0});
    CHECK_CLOSE(out[2].first.dense().to_vector(), {0, -0.8});
    REQUIRE(report.global_norm);
    CHECK(*report.global_norm == 5);
    CHECK(report.tensors_changed == 2);
  }
  SECTION("order matters: value then global norm differs from global norm then value") {
    auto value_first = clip::chain(clip::by_value(-1, 1), clip::by_global_norm(1));
    auto norm_first = clip::chain(clip::by_global_norm(1), clip::by_value(-0.7, 0.7));
    GradsAndVars x = value_first(gv);  // [1,0],[0,-1] then norm sqrt(2) -> /sqrt(2)
    CHECK_CLOSE(x[0].first.dense().to_vector(), {1 / std::sqrt(2.0), 0});
    GradsAndVars y = norm_first(gv);  // [0.6,0],[0,-0.8] then clamp 0.7
    CHECK_CLOSE(y[2].first.dense().to_vector(), {0, -0.7});
  }
  SECTION("a user callable is a transform") {
    clip::GradientTransform doubled = [](GradsAndVars in) {
      for (auto& [g, v] : in) {
        if (!g.is_none()) g = g.dense() * 2.0;
      }
      return in;
    };
    GradsAndVars out = clip::chain(doubled, clip::by_norm(5))(gv);
    CHECK_CLOSE(out[0].first.dense().to_vector(), {5, 0});
  }
  SECTION("bad parameters fail when the stage is built") {
    CHECK_THROWS_WITH(clip::by_global_norm(0), Catch::Contains("clip_norm"));
    CHECK_THROWS_WITH(clip::by_norm(-1), Catch::Contains("clip_norm"));
    CHECK_THROWS_WITH(clip::by_average_norm(kNaN), Catch::Contains("clip_norm"));
    CHECK_THROWS_WITH(clip::by_value(1, -1), Catch::Contains("clip_value_min"));
    CHECK_THROWS_WITH(clip::by_value(kNaN, 1), Catch::Contains("clip_value"));
  }
  SECTION("sparse gradients stay sparse through by_value, by_norm and by_global_norm") {
    IndexedSlices s{Tensor({{3, 4}}, DType::float64),
                    Tensor::from_vector(std::vector<std::int64_t>{1}, {1}),
                    {2, 2}};
    Variable e(zeros({2, 2}, DType::float64), "e");
    GradsAndVars sv{{s, e}};
    for (const auto& t : {clip::by_value(-1, 1), clip::by_norm(1), clip::by_global_norm(1)}) {
      CHECK(t(sv)[0].first.is_sparse());
    }
    CHECK(clip::by_average_norm(1)(sv)[0].first.is_dense());  // densified, as TF
  }
}

TEST_CASE("an installed stage runs once inside apply_gradients, for every path",
          "[clip][stage][optim]") {
  SECTION("minimize with by_global_norm equals manual compute -> clip_by_global_norm -> apply") {
    Variable w1(Tensor{1.f, -2.f}, "w1"), w2(Tensor{1.f, -2.f}, "w2");
    const Tensor x{3.f, 4.f};
    auto loss1 = [&] { return reduce_sum(square(w1 * x)); };
    auto loss2 = [&] { return reduce_sum(square(w2 * x)); };
    SGD staged(0.1), manual(0.1);
    staged.set_clipping(clip::by_global_norm(1.0));
    for (int step = 0; step < 3; ++step) {
      staged.minimize(loss1, nullptr, {w1});
      GradsAndVars gv = manual.compute_gradients(loss2, {w2});
      std::vector<Gradient> grads{gv[0].first};
      auto [clipped, norm] = clip::clip_by_global_norm(grads, 1.0);
      manual.apply_gradients({{clipped[0], w2}});
      CHECK(staged.clip_report().global_norm.value() == Approx(norm.item()));
    }
    CHECK(w1.value().to_vector() == w2.value().to_vector());
  }
  SECTION("the stage sees gradients before any variable changes, once per call") {
    Variable w(Tensor{1.f}, "w");
    int calls = 0;
    float seen = 0;
    SGD opt(1.0);
    opt.set_clipping(clip::GradientTransform([&](GradsAndVars gv) {
      ++calls;
      seen = static_cast<float>(w.value().item());
      return gv;
    }));
    opt.apply_gradients({{Tensor{0.5f}, w}});
    opt.minimize([&] { return w * 2.0; }, nullptr, {w});
    CHECK(calls == 2);
    CHECK(seen == 0.5f);  // the value before the second update
  }
}

TEST_CASE("the non-finite policies", "[clip][stage][optim]") {
  auto make = [](NonFinite policy) {
    auto opt = std::make_unique<Adam>(AdamOptions{0.1});
    opt->set_clipping(clip::by_global_norm(1.0), policy);
    return opt;
  };
  Variable w(f64({1, 2}), "w"), u(f64({3}), "u");
  Variable step = create_global_step();
  const GradsAndVars bad{{f64({1, kInf}), w}, {f64({kNaN}), u}};

  SECTION("propagate (TF): every variable that had a gradient becomes NaN") {
    auto opt = make(NonFinite::propagate);
    opt->apply_gradients(bad, &step);
    CHECK_CLOSE(w.value().to_vector(), {kNaN, kNaN});
    CHECK_CLOSE(u.value().to_vector(), {kNaN});
    CHECK(!std::isfinite(opt->clip_report().global_norm.value()));
  }
  SECTION("raise names every offending variable and changes nothing") {
    auto opt = make(NonFinite::raise);
    CHECK_THROWS_AS(opt->apply_gradients(bad, &step), NonFiniteError);
    CHECK_THROWS_WITH(opt->apply_gradients(bad, &step),
                      Catch::Contains("'w'") && Catch::Contains("'u'"));
    CHECK(w.value().to_vector() == std::vector<double>{1, 2});
    CHECK(step.value().item() == 0);
    CHECK(opt->iterations() == 0);
    CHECK_FALSE(opt->get_slot(w, "m"));
  }
  SECTION("skip is a no-op that is counted, and the next step behaves as if it never happened") {
    auto opt = make(NonFinite::skip);
    Variable w2(f64({1, 2}), "w2");
    auto reference = make(NonFinite::skip);
    opt->apply_gradients(bad, &step);
    CHECK(opt->clip_report().skipped_steps == 1);
    CHECK(w.value().to_vector() == std::vector<double>{1, 2});
    CHECK(step.value().item() == 0);
    CHECK(opt->iterations() == 0);
    CHECK_FALSE(opt->get_slot(w, "m"));
    opt->apply_gradients({{f64({0.5, -0.5}), w}}, &step);
    reference->apply_gradients({{f64({0.5, -0.5}), w2}});
    CHECK(w.value().to_vector() == w2.value().to_vector());
    CHECK(step.value().item() == 1);
    CHECK(opt->clip_report().skipped_steps == 1);
  }
}

TEST_CASE("a transform that breaks the list is caught before any update", "[clip][stage][optim]") {
  Variable w(Tensor{1.f}, "w");
  SGD opt(1.0);
  opt.set_clipping(clip::GradientTransform([](GradsAndVars) { return GradsAndVars{}; }));
  CHECK_THROWS_WITH(opt.apply_gradients({{Tensor{1.f}, w}}), Catch::Contains("length"));
  CHECK(w.value().item() == 1);
}

TEST_CASE("by_global_norm: a clip norm per step, and use_norm", "[clip][stage]") {
  Variable w(f64({0, 0}), "w");
  SECTION("the clip norm is read at each call's step") {
    SGD opt(1.0);
    opt.set_clipping(clip::by_global_norm([](std::int64_t step) { return step == 0 ? 1.0 : 4.0; }));
    Variable global_step = create_global_step();
    opt.apply_gradients({{f64({6, 8}), w}}, &global_step);  // step 0: norm 10 -> 1
    CHECK(*opt.clip_report().global_norm == 10);
    CHECK_CLOSE(w.value().to_vector(), {-0.6, -0.8});
    opt.apply_gradients({{f64({6, 8}), w}}, &global_step);  // step 1: norm 10 -> 4
    CHECK_CLOSE(w.value().to_vector(), {-0.6 - 2.4, -0.8 - 3.2});
    CHECK(opt.clip_report().step == 1);
  }
  SECTION("a schedule value that is not positive fails before anything changes") {
    SGD opt(1.0);
    opt.set_clipping(clip::by_global_norm([](std::int64_t) { return 0.0; }));
    CHECK_THROWS_WITH(opt.apply_gradients({{f64({6, 8}), w}}), Catch::Contains("clip_norm"));
    CHECK(w.value().to_vector() == std::vector<double>{0, 0});
    CHECK(opt.iterations() == 0);
  }
  SECTION("use_norm replaces the computed norm, as TF's argument does") {
    auto t = clip::by_global_norm(5.0, [](const GradsAndVars&) { return 20.0; });
    clip::Report report;
    GradsAndVars out = t({{f64({6, 8}), w}}, report);
    CHECK(*report.global_norm == 20);
    CHECK_CLOSE(out[0].first.dense().to_vector(), {1.5, 2});  // scaled by 5/20, not 5/10
    auto negative = clip::by_global_norm(5.0, [](const GradsAndVars&) { return -1.0; });
    CHECK_THROWS_WITH(negative({{f64({6, 8}), w}}), Catch::Contains("use_norm"));
  }
}

TEST_CASE("by_adaptive clips each unit relative to its weights' norm", "[clip][stage][adaptive]") {
  SECTION("a Dense kernel [in, out]: one unit per output column") {
    // Column norms of the weights: (5, 1, 0); of the gradient: (1, 2, 0.5).
    Variable w(Tensor({{3, 1, 0}, {4, 0, 0}}, DType::float64), "kernel");
    const Tensor g = Tensor({{0.6, 0, 0.3}, {0.8, 2, 0.4}}, DType::float64);
    clip::Report report;
    const GradsAndVars out = clip::by_adaptive(0.5, 0.1)({{g, w}}, report);
    // Column 0: 1 <= 0.5 * 5, unchanged. Column 1: 2 > 0.5 * 1, scaled by 0.25.
    // Column 2: weights are zero, so p = eps = 0.1; 0.5 > 0.05, scaled by 0.1.
    CHECK_CLOSE(out[0].first.dense().to_vector(), {0.6, 0, 0.03, 0.8, 0.5, 0.04});
    CHECK(report.tensors_changed == 1);
  }
  SECTION("an HWIO kernel: one unit per output channel; a bias as one unit") {
    Variable k(ones({2, 2, 1, 2}, DType::float64), "conv/kernel");  // channel norms 2, 2
    // Channel 0 gradient norm 4 (> 0.5 * 2): scaled to 1; channel 1 norm 0.4: kept.
    std::vector<double> gv{2, 0.2, 2, 0.2, 2, 0.2, 2, 0.2};
    const Tensor g = Tensor::from_vector(gv, {2, 2, 1, 2});
    Variable bias(Tensor({{3, 4}}, DType::float64), "conv/bias");  // [1, 2]: rank 1 after squeezing
    const Tensor gb = Tensor({{30, 40}}, DType::float64);
    const GradsAndVars out = clip::by_adaptive(0.5)({{g, k}, {gb, bias}});
    CHECK_CLOSE(out[0].first.dense().to_vector(), {0.5, 0.2, 0.5, 0.2, 0.5, 0.2, 0.5, 0.2});
    CHECK_CLOSE(out[1].first.dense().to_vector(), {1.5, 2});  // norm 50 -> 0.5 * 5
  }
  SECTION("IndexedSlices of an embedding: duplicates merged, each row against its weights' row") {
    Variable table(Tensor({{3, 4}, {0, 1}, {0, 0}}, DType::float64), "table");
    IndexedSlices g{Tensor({{3, 0}, {3, 0}, {0, 0.1}}, DType::float64),
                    Tensor::from_vector(std::vector<std::int64_t>{0, 0, 1}, {3}),
                    {3, 2}};
    const GradsAndVars out = clip::by_adaptive(1.0)({{g, table}});
    REQUIRE(out[0].first.is_sparse());
    const IndexedSlices& s = out[0].first.sparse();
    CHECK(s.indices.to_vector() == std::vector<double>{0, 1});
    // Row 0: merged (6, 0), norm 6 > 1 * 5: scaled to 5. Row 1: 0.1 <= 1: kept.
    CHECK_CLOSE(s.values.to_vector(), {5, 0, 0, 0.1});
  }
  SECTION("eps = 0 zeroes the gradient of a zero weight; errors name the field") {
    Variable z(zeros({3}, DType::float64), "z");
    const GradsAndVars out =
        clip::by_adaptive(0.1, 0.0)({{Tensor({1.0, 2.0, 3.0}, DType::float64), z}});
    CHECK(out[0].first.dense().to_vector() == std::vector<double>{0, 0, 0});
    CHECK_THROWS_WITH(clip::by_adaptive(0), Catch::Contains("clipping"));
    CHECK_THROWS_WITH(clip::by_adaptive(kInf), Catch::Contains("clipping"));
    CHECK_THROWS_WITH(clip::by_adaptive(0.1, -1), Catch::Contains("eps"));
    Variable r5(ones({2, 2, 2, 2, 2}, DType::float64), "r5");
    CHECK_THROWS_WITH(clip::by_adaptive(0.1)({{ones({2, 2, 2, 2, 2}, DType::float64), r5}}),
                      Catch::Contains("rank 4"));
    Variable v3(ones({2, 2, 2}, DType::float64), "v3");
    IndexedSlices s3{ones({1, 2, 2}, DType::float64),
                     Tensor::from_vector(std::vector<std::int64_t>{0}, {1}),
                     {2, 2, 2}};
    CHECK_THROWS_WITH(clip::by_adaptive(0.1)({{s3, v3}}), Catch::Contains("rank-2"));
  }
  SECTION("composes with chain and runs inside apply_gradients") {
    Variable w(f64({3, 4}), "w");  // norm 5
    SGD opt(1.0);
    opt.set_clipping(clip::chain(clip::by_adaptive(0.1), clip::by_value(-0.25, 0.25)));
    opt.apply_gradients({{f64({0, 10}), w}});  // adaptive: to norm 0.5; then value clip
    CHECK_CLOSE(w.value().to_vector(), {3, 3.75});
  }
}
