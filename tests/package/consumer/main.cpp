// Trains y = 3x with the installed library; exits non-zero unless it learns it.
#include <tapeflow/core/format.hpp>
#include <tapeflow/tapeflow.hpp>

int main() {
  using namespace tapeflow;
  Variable w(Tensor{0.f}, "w");
  const Tensor x{1, 2, 3};
  const Tensor y{3, 6, 9};
  for (int step = 0; step < 100; ++step) {
    GradientTape tape;
    Tensor loss = reduce_mean(square(w * x - y));
    Gradient g = tape.gradient(loss, w.value());
    w.assign_sub(g.dense() * 0.05);
  }
  fmt::print("w = {}\n", w.value());  // <tapeflow/core/format.hpp>
  return std::abs(w.value().item() - 3.0) < 1e-3 ? 0 : 1;
}
