// docs/semantics.md §11: Adagrad, RMSProp, Adadelta and AdamW, each with a
// two-step trajectory worked out by hand from TF1's kernels (dense, and sparse
// with a duplicate index), plus the rules that make each one differ from its
// PyTorch or Keras namesake.
#include <cmath>

#include "helpers.hpp"

using namespace tapeflow;

namespace {
Tensor f64(std::initializer_list<double> v) { return Tensor(v, DType::float64); }
Tensor rows(std::initializer_list<std::initializer_list<double>> v) {
  return Tensor(v, DType::float64);
}
Tensor idx(std::vector<std::int64_t> v) { return Tensor::from_vector(v, {v.size()}); }
// A sparse gradient of a [3, 2] variable: rows for indices 0, 2, 0. Merged,
// row 0 gets (0.5 + 0.25, -1 + 0.5) = (0.75, -0.5) and row 2 gets (1, 2).
IndexedSlices sparse_grad() {
  return {rows({{0.5, -1}, {1, 2}, {0.25, 0.5}}), idx({0, 2, 0}), {3, 2}};
}
const std::vector<double> kMerged0{0.75, -0.5}, kMerged2{1, 2};
}  // namespace

TEST_CASE("Adagrad: acc += g^2, var -= lr g / sqrt(acc), accumulator from 0.1",
          "[optim][adagrad]") {
  SECTION("dense, two steps") {
    Variable w(f64({1, -2}), "w");
    Adagrad opt(0.1);
    CHECK(opt.get_slot_names() == std::vector<std::string>{"accumulator"});
    opt.apply_gradients({{f64({0.5, 1}), w}});
    // acc = 0.1 + g^2 = (0.35, 1.1)
    CHECK_CLOSE(opt.get_slot(w, "accumulator")->to_vector(), {0.35, 1.1});
    const double w1a = 1 - 0.1 * 0.5 / std::sqrt(0.35), w1b = -2 - 0.1 * 1 / std::sqrt(1.1);
    CHECK_CLOSE_TOL(w.value().to_vector(), 1e-12, {w1a, w1b});
    opt.apply_gradients({{f64({-1, 0}), w}});
    // acc = (1.35, 1.1); a zero gradient leaves its element where it was.
    CHECK_CLOSE_TOL(w.value().to_vector(), 1e-12, {w1a + 0.1 / std::sqrt(1.35), w1b});
  }
  SECTION("sparse: duplicates merged, only the indexed rows and their accumulator rows change") {
    Variable t(rows({{1, 1}, {2, 2}, {3, 3}}), "t");
    Adagrad opt(0.1, 0.5);
    opt.apply_gradients({{sparse_grad(), t}});
    const auto acc = opt.get_slot(t, "accumulator")->to_vector();
    CHECK_CLOSE(acc, {0.5 + 0.5625, 0.5 + 0.25, 0.5, 0.5, 0.5 + 1, 0.5 + 4});
    CHECK_CLOSE_TOL(t.value().to_vector(), 1e-12,
                    {1 - 0.1 * 0.75 / std::sqrt(1.0625), 1 + 0.1 * 0.5 / std::sqrt(0.75), 2, 2,
                     3 - 0.1 * 1 / std::sqrt(1.5), 3 - 0.1 * 2 / std::sqrt(4.5)});
  }
  SECTION("validation names the field") {
    CHECK_THROWS_WITH(Adagrad(0.1, 0.0), Catch::Contains("initial_accumulator_value"));
    CHECK_THROWS_WITH(Adagrad(-0.1), Catch::Contains("learning_rate"));
  }
}

TEST_CASE("RMSProp: rms starts at ones, epsilon inside the root, lr folded into momentum",
          "[optim][rmsprop]") {
  SECTION("the first step is small because rms starts at 1 (TF1), not 0 (Keras, PyTorch)") {
    Variable w(f64({0}), "w");
    RMSProp opt(0.01);  // decay 0.9, momentum 0, epsilon 1e-10
    opt.apply_gradients({{f64({0.1}), w}});
    const double rms = 1 + (0.01 - 1) * 0.1;  // 0.901
    CHECK(opt.get_slot(w, "rms")->item() == Approx(rms));
    const double step = 0.01 * 0.1 / std::sqrt(rms + 1e-10);
    CHECK(w.value().item() == Approx(-step).epsilon(1e-12));
    // From zero the same step would be lr * g / sqrt(0.1 g^2) = lr * sqrt(10): 30x larger.
    CHECK(step < 0.01 * std::sqrt(10.0) / 25);
  }
  SECTION("dense with momentum, two steps") {
    Variable w(f64({1}), "w");
    RMSProp opt(0.1, 0.5, 0.9, 1e-6);
    CHECK(opt.get_slot_names() == std::vector<std::string>{"momentum", "rms"});
    opt.apply_gradients({{f64({2}), w}});
    const double rms1 = 1 + (4 - 1) * 0.5;                 // 2.5
    const double mom1 = 0.1 * 2 / std::sqrt(rms1 + 1e-6);  // momentum slot starts at 0
    CHECK(w.value().item() == Approx(1 - mom1).epsilon(1e-12));
    opt.apply_gradients({{f64({-1}), w}});
    const double rms2 = rms1 + (1 - rms1) * 0.5;  // 1.75
    const double mom2 = 0.9 * mom1 + 0.1 * -1 / std::sqrt(rms2 + 1e-6);
    CHECK(opt.get_slot(w, "momentum")->item() == Approx(mom2).epsilon(1e-12));
    CHECK(w.value().item() == Approx(1 - mom1 - mom2).epsilon(1e-12));
  }
  SECTION("centered: denominator rms - mg^2, slot mg") {
    Variable w(f64({1}), "w");
    RMSProp opt(0.1, 0.5, 0.0, 0.0, /*centered=*/true);
    CHECK(opt.get_slot_names() == std::vector<std::string>{"mg", "momentum", "rms"});
    opt.apply_gradients({{f64({2}), w}});
    const double rms1 = 2.5, mg1 = 0 + (2 - 0) * 0.5;  // mg = 1
    const double mom1 = 0.1 * 2 / std::sqrt(rms1 - mg1 * mg1);
    CHECK(w.value().item() == Approx(1 - mom1).epsilon(1e-12));
    opt.apply_gradients({{f64({2}), w}});
    const double rms2 = rms1 + (4 - rms1) * 0.5, mg2 = mg1 + (2 - mg1) * 0.5;
    CHECK(w.value().item() ==
          Approx(1 - mom1 - 0.1 * 2 / std::sqrt(rms2 - mg2 * mg2)).epsilon(1e-12));
  }
  SECTION("sparse: other rows keep rms at 1 and do not move") {
    Variable t(rows({{0, 0}, {0, 0}, {0, 0}}), "t");
    RMSProp opt(0.1, 0.9, 0.5);
    opt.apply_gradients({{sparse_grad(), t}});
    opt.apply_gradients({{sparse_grad(), t}});
    const auto rms = opt.get_slot(t, "rms")->to_vector();
    CHECK(rms[2] == 1);
    CHECK(rms[3] == 1);
    const auto v = t.value().to_vector();
    CHECK(v[2] == 0);
    CHECK(v[3] == 0);
    // Row 0 element 0, g = 0.75 both times (merged): two steps by hand.
    const double r1 = 1 + (0.5625 - 1) * 0.1, m1 = 0.1 * 0.75 / std::sqrt(r1 + 1e-10);
    const double r2 = r1 + (0.5625 - r1) * 0.1, m2 = 0.5 * m1 + 0.1 * 0.75 / std::sqrt(r2 + 1e-10);
    CHECK(v[0] == Approx(-m1 - m2).epsilon(1e-12));
  }
  SECTION("validation names the field") {
    CHECK_THROWS_WITH(RMSProp(0.1, 1.5), Catch::Contains("decay"));
    CHECK_THROWS_WITH(RMSProp(0.1, 0.9, -1), Catch::Contains("momentum"));
    CHECK_THROWS_WITH(RMSProp(0.1, 0.9, 0, -1), Catch::Contains("epsilon"));
  }
}

TEST_CASE("Adadelta: TF1's kernel with accum and accum_update", "[optim][adadelta]") {
  SECTION("dense, two steps") {
    Variable w(f64({1}), "w");
    Adadelta opt(1.0, 0.9, 1e-6);
    CHECK(opt.get_slot_names() == std::vector<std::string>{"accum", "accum_update"});
    double accum = 0, accum_update = 0, expect = 1;
    for (double g : {0.5, -2.0}) {
      opt.apply_gradients({{f64({g}), w}});
      accum = 0.9 * accum + 0.1 * g * g;
      const double update = std::sqrt(accum_update + 1e-6) / std::sqrt(accum + 1e-6) * g;
      accum_update = 0.9 * accum_update + 0.1 * update * update;
      expect -= 1.0 * update;
      CHECK(w.value().item() == Approx(expect).epsilon(1e-12));
    }
    CHECK(opt.get_slot(w, "accum_update")->item() == Approx(accum_update).epsilon(1e-12));
  }
  SECTION("sparse: only the indexed rows change") {
    Variable t(rows({{1, 1}, {1, 1}, {1, 1}}), "t");
    Adadelta opt(1.0, 0.5, 0.01);
    opt.apply_gradients({{sparse_grad(), t}});
    const auto v = t.value().to_vector();
    const double a = 0.5 * 0.75 * 0.75, u = std::sqrt(0.01) / std::sqrt(a + 0.01) * 0.75;
    CHECK(v[0] == Approx(1 - u).epsilon(1e-12));
    CHECK(v[2] == 1);
    CHECK(v[3] == 1);
    CHECK(opt.get_slot(t, "accum")->to_vector()[2] == 0);
  }
  SECTION("defaults are TF1's and validation names the field") {
    Variable w(f64({0}), "w");
    Adadelta opt;  // lr 0.001, rho 0.95, epsilon 1e-8
    opt.apply_gradients({{f64({1}), w}});
    const double accum = 0.05, update = std::sqrt(1e-8) / std::sqrt(accum + 1e-8);
    CHECK(w.value().item() == Approx(-0.001 * update).epsilon(1e-12));
    CHECK_THROWS_WITH(Adadelta(0.001, 1.5), Catch::Contains("rho"));
    CHECK_THROWS_WITH(Adadelta(0.001, 0.9, -1), Catch::Contains("epsilon"));
  }
}

TEST_CASE("AdamW: decay by the scheduled lr before Adam's update", "[optim][adamw]") {
  // Adam's first step with g = 2, beta1 0.9, beta2 0.999, epsilon 0: m = 0.2,
  // v = 0.004, lr_t = lr sqrt(0.001) / 0.1, step = lr_t m / sqrt(v) = lr.
  SECTION("two steps: w - lr wd w, then the Adam step, with the schedule's lr") {
    Variable w(f64({1}), "w");
    AdamW opt(AdamOptions(piecewise_constant({0}, {0.1, 0.01})).epsilon(0), 0.5);
    opt.apply_gradients({{f64({2}), w}});
    const double w1 = 1 - 0.1 * 0.5 * 1 - 0.1;  // decay by lr 0.1 (step 0), then Adam's lr
    CHECK(w.value().item() == Approx(w1).epsilon(1e-12));
    opt.apply_gradients({{f64({2}), w}});
    // Step 1: lr 0.01; constant g keeps m / sqrt(v) * sqrt(1 - b2^2) / (1 - b1^2) = 1.
    CHECK(w.value().item() == Approx(w1 - 0.01 * 0.5 * w1 - 0.01).epsilon(1e-12));
    CHECK(opt.name() == "AdamW");
  }
  SECTION("excluded names and none gradients do not decay") {
    Variable kernel(f64({1}), "dense/kernel"), bias(f64({1}), "dense/bias"), idle(f64({1}), "idle");
    AdamW opt(AdamOptions(0.1).epsilon(0), 0.5, {"bias"});
    CHECK(opt.decays(kernel));
    CHECK_FALSE(opt.decays(bias));
    opt.apply_gradients({{f64({2}), kernel}, {f64({2}), bias}, {Gradient(), idle}});
    CHECK(kernel.value().item() == Approx(1 - 0.05 - 0.1).epsilon(1e-12));
    CHECK(bias.value().item() == Approx(1 - 0.1).epsilon(1e-12));
    CHECK(idle.value().item() == 1);
  }
  SECTION("sparse: each indexed row decays once, duplicates included; lazy Adam follows") {
    Variable t(rows({{1, 1}, {1, 1}, {1, 1}}), "t");
    AdamW opt(AdamOptions(0.1).epsilon(0).lazy(true), 0.5);
    opt.apply_gradients({{sparse_grad(), t}});
    const auto v = t.value().to_vector();
    // Row 0: decayed once to 0.95, then lazy Adam's first step moves by lr * sign(g).
    CHECK(v[0] == Approx(0.95 - 0.1).epsilon(1e-12));
    CHECK(v[1] == Approx(0.95 + 0.1).epsilon(1e-12));
    CHECK(v[2] == 1);  // row 1: no gradient, no decay
    CHECK(v[3] == 1);
    CHECK(v[4] == Approx(0.95 - 0.1).epsilon(1e-12));
  }
  SECTION("validation names the field") {
    CHECK_THROWS_WITH(AdamW(AdamOptions(0.1), -1), Catch::Contains("weight_decay"));
    CHECK_THROWS_WITH(AdamW(AdamOptions(0.1).beta1(1), 0.1), Catch::Contains("AdamW: beta1"));
  }
}

TEST_CASE("the TF1 family keeps the contract: none skipped, all or nothing, clipping stage",
          "[optim][contract]") {
  auto make = [](const std::string& kind) -> std::unique_ptr<Optimizer> {
    if (kind == "adagrad") return std::make_unique<Adagrad>(0.1);
    if (kind == "rmsprop") return std::make_unique<RMSProp>(0.1, 0.9, 0.5, 1e-10, true);
    if (kind == "adadelta") return std::make_unique<Adadelta>(1.0);
    return std::make_unique<AdamW>(AdamOptions(0.1), 0.1);
  };
  for (const std::string kind : {"adagrad", "rmsprop", "adadelta", "adamw"}) {
    DYNAMIC_SECTION(kind) {
      auto opt = make(kind);
      Variable a(f64({1, 2}), "a"), b(f64({3}), "b");
      // A bad pair anywhere: nothing changes, no slot is created.
      CHECK_THROWS_AS(opt->apply_gradients({{f64({1, 1}), a}, {f64({1, 1}), b}}), ShapeError);
      CHECK(a.value().to_vector() == std::vector<double>{1, 2});
      CHECK(opt->iterations() == 0);
      for (const auto& s : opt->get_slot_names()) CHECK_FALSE(opt->get_slot(a, s));
      // None is skipped: b gets no slots and does not move.
      opt->set_clipping(clip::by_global_norm(1.0));
      opt->apply_gradients({{f64({30, 40}), a}, {Gradient(), b}});
      CHECK(*opt->clip_report().global_norm == 50);
      CHECK(b.value().to_vector() == std::vector<double>{3});
      for (const auto& s : opt->get_slot_names()) {
        CHECK(opt->get_slot(a, s));
        CHECK_FALSE(opt->get_slot(b, s));
      }
      CHECK(a.value().to_vector() != std::vector<double>{1, 2});
    }
  }
}
