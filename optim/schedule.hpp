// Learning rates: a constant or a schedule of the step (TF1 tf.train.*_decay).
#pragma once
#include <cstdint>
#include <functional>
#include <variant>
#include <vector>

namespace tapeflow {

/// A learning rate as a function of the step (the global step when given to
/// apply_gradients, else the optimizer's iteration count, read before the
/// call's increment).
using Schedule = std::function<double(std::int64_t step)>;

/// A constant or a Schedule; implicit from either.
class LearningRate {
 public:
  LearningRate(double value);       // NOLINT: implicit, `SGD(0.1)` reads naturally
  LearningRate(Schedule schedule);  // NOLINT
  double at(std::int64_t step) const;

 private:
  std::variant<double, Schedule> v_;
};

/// lr * decay_rate^(step / decay_steps), the exponent floored when `staircase`.
/// @throws InvalidArgumentError for decay_steps <= 0, decay_rate <= 0 or not finite, a bad lr.
Schedule exponential_decay(double learning_rate, std::int64_t decay_steps, double decay_rate,
                           bool staircase = false);
/// values[0] for step <= boundaries[0], values[i] for boundaries[i-1] < step <= boundaries[i],
/// values.back() after the last boundary.
/// @throws InvalidArgumentError unless values.size() == boundaries.size() + 1 and the
/// boundaries increase strictly.
Schedule piecewise_constant(std::vector<std::int64_t> boundaries, std::vector<double> values);
/// lr * ((1 - alpha) * 0.5 * (1 + cos(pi * min(step, decay_steps) / decay_steps)) + alpha).
Schedule cosine_decay(double learning_rate, std::int64_t decay_steps, double alpha = 0.0);

}  // namespace tapeflow
