#include "helpers.hpp"

using namespace tapeflow;

TEST_CASE("tensors are built from nested lists, factories and buffers", "[core][tensor]") {
  SECTION("nested lists are row-major and float32 by default") {
    Tensor t{{1, 2, 3}, {4, 5, 6}};
    CHECK(t.dtype() == DType::float32);
    CHECK(t.shape() == Shape{2, 3});
    CHECK(t.size() == 6);
    CHECK(t.to_vector() == std::vector<double>{1, 2, 3, 4, 5, 6});
  }
  SECTION("a dtype can be given") {
    Tensor t({1.5, 2.5}, DType::float64);
    CHECK(t.dtype() == DType::float64);
    CHECK(t.data<double>()[1] == 2.5);
  }
  SECTION("ragged lists are rejected") { CHECK_THROWS_AS((Tensor{{1, 2}, {3}}), ShapeError); }
  SECTION("scalars") {
    CHECK(Tensor(2.5).rank() == 0);
    CHECK(Tensor(2.5).dtype() == DType::float64);
    CHECK(Tensor(2.5f).dtype() == DType::float32);
    CHECK(Tensor(7).dtype() == DType::int64);
    CHECK(Tensor(2.5).item() == 2.5);
  }
  SECTION("zeros, ones, full") {
    CHECK(zeros({2, 2}).to_vector() == std::vector<double>(4, 0.0));
    CHECK(ones({3}, DType::float64).to_vector() == std::vector<double>(3, 1.0));
    CHECK(full({2}, 7, DType::int64).to_vector() == std::vector<double>{7, 7});
  }
  SECTION("from_vector checks the element count") {
    CHECK(Tensor::from_vector(std::vector<float>{1, 2, 3, 4}, {2, 2}).shape() == Shape{2, 2});
    CHECK_THROWS_WITH(Tensor::from_vector(std::vector<float>{1, 2, 3}, {2, 2}),
                      Catch::Contains("3 values cannot fill shape [2, 2]"));
  }
  SECTION("the array accessor checks the dtype") {
    CHECK_THROWS_AS(Tensor({1.0}).data<double>(), DTypeError);
  }
  SECTION("item needs exactly one element") { CHECK_THROWS_AS(Tensor({1, 2}).item(), ShapeError); }
  SECTION("an undefined tensor says so") {
    Tensor t;
    CHECK_FALSE(t.defined());
    CHECK_THROWS_WITH(t.shape(), Catch::Contains("undefined"));
  }
}

TEST_CASE("tensor ids are unique and copies share storage", "[core][tensor]") {
  Tensor a{1, 2};
  Tensor b = a;
  Tensor c{1, 2};
  CHECK(a.id() == b.id());
  CHECK(a.is_same(b));
  CHECK(a.id() != c.id());
}

TEST_CASE("broadcast_shapes follows NumPy", "[core][broadcast]") {
  CHECK(broadcast_shapes("t", {3, 1}, {4}) == Shape{3, 4});
  CHECK(broadcast_shapes("t", {}, {2, 3}) == Shape{2, 3});
  CHECK(broadcast_shapes("t", {5, 1, 3}, {4, 1}) == Shape{5, 4, 3});
  CHECK_THROWS_WITH(broadcast_shapes("mul", {3, 4}, {2, 4}),
                    "mul: operands with shapes [3, 4] and [2, 4] cannot be broadcast together");
}

TEST_CASE("a seeded generator repeats its stream and has the right moments", "[core][random]") {
  Rng a(42), b(42), c(43);
  CHECK(a.next_u64() == b.next_u64());
  CHECK(a.next_u64() != c.next_u64());
  Rng r(7);
  const Tensor n = random_normal({20000}, 1.0, 2.0, DType::float64, r);
  const auto v = n.to_vector();
  double mean = 0, var = 0;
  for (double x : v) mean += x;
  mean /= v.size();
  for (double x : v) var += (x - mean) * (x - mean);
  var /= v.size();
  CHECK(mean == Approx(1.0).margin(0.05));
  CHECK(var == Approx(4.0).epsilon(0.05));
  const auto u = random_uniform({1000}, -2, 3, DType::float32, r).to_vector();
  CHECK(*std::min_element(u.begin(), u.end()) >= -2);
  CHECK(*std::max_element(u.begin(), u.end()) < 3);
  const auto t = truncated_normal({1000}, 0, 1, DType::float64, r).to_vector();
  for (double x : t) REQUIRE(std::abs(x) <= 2.0);
  std::vector<int> counts(5, 0);
  for (int i = 0; i < 5000; ++i) ++counts[r.below(5)];
  for (int k : counts) CHECK(k == Approx(1000).margin(120));
}

TEST_CASE("tensors print like NumPy", "[core][format]") {
  CHECK(fmt::format("{}", Tensor{{1, 2}, {3, 4}}) ==
        "Tensor([[1, 2],\n        [3, 4]], shape=(2, 2), dtype=float32)");
  CHECK(fmt::format("{}", Tensor({0.5}, DType::float64)) ==
        "Tensor([0.5], shape=(1,), dtype=float64)");
  CHECK(fmt::format("{}", Tensor(3)) == "Tensor(3, shape=(), dtype=int64)");
  const std::string big = fmt::format("{}", zeros({2000}));
  CHECK(big == "Tensor([0, 0, 0, ..., 0, 0, 0], shape=(2000,), dtype=float32)");
}

TEST_CASE("convert changes dtype and keeps values", "[core][tensor]") {
  Tensor t{1.5, -2.25};
  Tensor d = convert(t, DType::float64);
  CHECK(d.dtype() == DType::float64);
  CHECK(d.to_vector() == std::vector<double>{1.5, -2.25});
  CHECK(convert(t, DType::int64).to_vector() == std::vector<double>{1, -2});
}
