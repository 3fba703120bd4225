// Layers, initializers and Sequential.
#include <cmath>

#include "helpers.hpp"

using namespace tapeflow;

TEST_CASE("initializers follow TF's formulas", "[nn][init]") {
  Rng rng(3);
  SECTION("glorot_uniform stays within sqrt(6 / (fan_in + fan_out)), fans from HWIO too") {
    const auto dense = nn::glorot_uniform({300, 100}, rng).to_vector();
    const double limit = std::sqrt(6.0 / 400);
    double lo = 0, hi = 0;
    for (double v : dense) lo = std::min(lo, v), hi = std::max(hi, v);
    CHECK(lo >= -limit);
    CHECK(hi <= limit);
    CHECK(hi > 0.95 * limit);
    const auto conv = nn::glorot_uniform({5, 5, 4, 8}, rng).to_vector();
    const double climit = std::sqrt(6.0 / (25 * 4 + 25 * 8));
    for (double v : conv) REQUIRE(std::abs(v) <= climit);
  }
  SECTION("he_normal: truncated at 2 sigma, variance 2 / fan_in after the truncation correction") {
    const auto v = nn::he_normal({1000, 50}, rng, DType::float64).to_vector();
    double mean = 0, var = 0;
    for (double x : v) mean += x;
    mean /= v.size();
    for (double x : v) var += (x - mean) * (x - mean);
    var /= v.size();
    CHECK(var == Approx(2.0 / 1000).epsilon(0.05));
    const double cut = 2 * std::sqrt(2.0 / 1000) / 0.87962566103423978;
    for (double x : v) REQUIRE(std::abs(x) <= cut);
  }
}

TEST_CASE("Sequential builds named, trainable variables in layer order", "[nn][layers]") {
  const auto before = trainable_variables().size();
  {
    nn::Sequential m(7);
    m.add<nn::Conv2D>(4, 3, nn::Activation::relu);
    m.add<nn::MaxPool2D>(2);
    m.add<nn::Flatten>();
    m.add<nn::Dropout>(0.5);
    m.add<nn::Dense>(10);
    CHECK(m.trainable_variables().empty());  // built on the first call
    m.build({8, 8, 1});
    const auto vars = m.trainable_variables();
    REQUIRE(vars.size() == 4);
    CHECK(vars[0].name() == "layer0_conv2d/kernel");
    CHECK(vars[0].shape() == Shape{3, 3, 1, 4});
    CHECK(vars[1].name() == "layer0_conv2d/bias");
    CHECK(vars[2].name() == "layer4_dense/kernel");
    CHECK(vars[2].shape() == Shape{64, 10});
    CHECK(vars[3].value().to_vector() == std::vector<double>(10, 0.0));  // zero bias
    CHECK(trainable_variables().size() == before + 4);
    const Tensor x = random_uniform({2, 8, 8, 1});
    CHECK(m(x).shape() == Shape{2, 10});
    CHECK(m(x, false).to_vector() == m(x, false).to_vector());  // dropout off at inference
    CHECK(m(x, true).to_vector() != m(x, false).to_vector());
    const std::string summary = m.summary({8, 8, 1});
    CHECK(summary.find("layer0_conv2d") != std::string::npos);
    CHECK(summary.find(std::to_string(3 * 3 * 4 + 4 + 64 * 10 + 10)) != std::string::npos);
    // Column headers, then one row per layer, then the total.
    CHECK(summary.rfind("  layer", 0) == 0);
    CHECK(summary.find("output shape") != std::string::npos);
    CHECK(summary.find("parameters") != std::string::npos);
    CHECK(summary.find("total") > summary.find("layer0_conv2d"));
  }
  CHECK(trainable_variables().size() == before);
}

TEST_CASE("equal seeds give equal models", "[nn][layers]") {
  nn::Sequential a(11), b(11), c(12);
  for (auto* m : {&a, &b, &c}) {
    m->add<nn::Dense>(5, nn::Activation::tanh);
    m->build({3});
  }
  CHECK(a.trainable_variables()[0].value().to_vector() ==
        b.trainable_variables()[0].value().to_vector());
  CHECK(a.trainable_variables()[0].value().to_vector() !=
        c.trainable_variables()[0].value().to_vector());
}

TEST_CASE("Dense computes activation(x W + b) and needs rank-2 input", "[nn][layers]") {
  nn::Sequential m(1);
  m.add<nn::Dense>(2, nn::Activation::relu);
  m.build({3});
  auto vars = m.trainable_variables();
  vars[0].assign(Tensor{{1, -1}, {2, 0}, {0, 1}});
  vars[1].assign(Tensor{0.5f, -10.f});
  CHECK(m(Tensor{{1, 1, 1}}).to_vector() == std::vector<double>{3.5, 0});
  nn::Sequential bad(1);
  bad.add<nn::Dense>(2);
  CHECK_THROWS_WITH(bad(zeros({1, 2, 2})), Catch::Contains("Flatten"));
  CHECK_THROWS_AS(nn::Dense(0), InvalidArgumentError);
  CHECK_THROWS_AS(nn::Dropout(1.0), InvalidArgumentError);
}
