// Small helpers for the tests: compare tensors with literal expectations.
#pragma once
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <functional>
#include <vector>

#include "tapeflow/core/format.hpp"
#include "tapeflow/tapeflow.hpp"

namespace tf_test {

/// Elementwise |a - b| <= tol (NaN only matches NaN).
inline bool close(const std::vector<double>& a, const std::vector<double>& b, double tol = 1e-6) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) || std::isnan(b[i])) {
      if (!(std::isnan(a[i]) && std::isnan(b[i]))) return false;
    } else if (std::isinf(a[i]) || std::isinf(b[i])) {
      if (a[i] != b[i]) return false;
    } else if (std::abs(a[i] - b[i]) > tol * std::max(1.0, std::abs(b[i]))) {
      return false;
    }
  }
  return true;
}

inline std::vector<double> vec(const tapeflow::Tensor& t) { return t.to_vector(); }

/// Random float64 tensor of the given shape, values in [lo, hi).
inline tapeflow::Tensor rand64(const tapeflow::Shape& shape, std::uint64_t seed, double lo = -1.0,
                               double hi = 1.0) {
  tapeflow::Rng rng(seed);
  return tapeflow::random_uniform(shape, lo, hi, tapeflow::DType::float64, rng);
}

/// `<tmp>/tapeflow-tests/<test>/<name>`, the folder created: one folder per
/// test, since ctest runs the cases in parallel processes.
inline std::filesystem::path scratch(const std::string& test, const std::string& name) {
  std::filesystem::path dir = std::filesystem::temp_directory_path() / "tapeflow-tests" / test;
  std::filesystem::create_directories(dir);
  return dir / name;
}

/// A float64 finite-difference check of f's gradient at `inputs`; on failure
/// the message names the recorded ops, the worst input's shape and element.
inline void check_grad(
    const std::function<tapeflow::Tensor(const std::vector<tapeflow::Tensor>&)>& f,
    const std::vector<tapeflow::Tensor>& inputs, double tol = 1e-6) {
  const auto r = tapeflow::check_gradients(f, inputs);
  INFO(r.describe());
  CHECK(r.max_rel_error < tol);
}

}  // namespace tf_test

#define CHECK_CLOSE(actual, ...) CHECK(tf_test::close((actual), std::vector<double>(__VA_ARGS__)))
#define CHECK_CLOSE_TOL(actual, tol, ...) \
  CHECK(tf_test::close((actual), std::vector<double>(__VA_ARGS__), (tol)))
