// Learning-rate schedules with TF1's formulas (docs/semantics.md §9).
#include "tapeflow/optim/schedule.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>

#include "tapeflow/core/error.hpp"

namespace tapeflow {
namespace {
void check_rate(const char* op, double lr) {
  if (!std::isfinite(lr) || lr < 0) {
    throw InvalidArgumentError(
        fmt::format("{}: learning_rate must be finite and >= 0, got {}", op, lr));
  }
}
void check_steps(const char* op, std::int64_t decay_steps) {
  if (decay_steps <= 0) {
    throw InvalidArgumentError(fmt::format("{}: decay_steps must be > 0, got {}", op, decay_steps));
  }
}
}  // namespace

LearningRate::LearningRate(double value) : v_(value) { check_rate("LearningRate", value); }
LearningRate::LearningRate(Schedule schedule) : v_(std::move(schedule)) {
  if (!std::get<Schedule>(v_)) throw InvalidArgumentError("LearningRate: empty schedule");
}

double LearningRate::at(std::int64_t step) const {
  if (const double* c = std::get_if<double>(&v_)) return *c;
  const double lr = std::get<Schedule>(v_)(step);
  check_rate("LearningRate", lr);
  return lr;
}

Schedule exponential_decay(double learning_rate, std::int64_t decay_steps, double decay_rate,
                           bool staircase) {
  check_rate("exponential_decay", learning_rate);
  check_steps("exponential_decay", decay_steps);
  if (!std::isfinite(decay_rate) || decay_rate <= 0) {
    throw InvalidArgumentError(
        fmt::format("exponential_decay: decay_rate must be finite and > 0, got {}", decay_rate));
  }
  return [=](std::int64_t step) {
    double p = static_cast<double>(step) / static_cast<double>(decay_steps);
    if (staircase) p = std::floor(p);
    return learning_rate * std::pow(decay_rate, p);
  };
}

Schedule piecewise_constant(std::vector<std::int64_t> boundaries, std::vector<double> values) {
  if (values.size() != boundaries.size() + 1) {
    throw InvalidArgumentError(
        fmt::format("piecewise_constant: boundaries has {} entries, so values needs {}, got {}",
                    boundaries.size(), boundaries.size() + 1, values.size()));
  }
  for (std::size_t i = 1; i < boundaries.size(); ++i) {
    if (boundaries[i] <= boundaries[i - 1]) {
      throw InvalidArgumentError(
          fmt::format("piecewise_constant: boundaries must increase strictly, got [{}]",
                      fmt::join(boundaries, ", ")));
    }
  }
  for (double v : values) check_rate("piecewise_constant", v);
  return [b = std::move(boundaries), v = std::move(values)](std::int64_t step) {
    std::size_t i = 0;
    while (i < b.size() && step > b[i]) ++i;  // a boundary step still uses the earlier value
    return v[i];
  };
}

Schedule cosine_decay(double learning_rate, std::int64_t decay_steps, double alpha) {
  check_rate("cosine_decay", learning_rate);
  check_steps("cosine_decay", decay_steps);
  return [=](std::int64_t step) {
    const double s = static_cast<double>(std::min(step, decay_steps));
    const double cosine = 0.5 * (1 + std::cos(M_PI * s / static_cast<double>(decay_steps)));
    return learning_rate * ((1 - alpha) * cosine + alpha);
  };
}

}  // namespace tapeflow
