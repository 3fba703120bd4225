// A numerical gradient checker, like tf.test.compute_gradient.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tapeflow/core/tensor.hpp"

namespace tapeflow {

struct GradientCheckResult {
  double max_abs_error = 0;  ///< max |analytic - numeric| over all input elements
  double max_rel_error = 0;  ///< max |analytic - numeric| / max(1, |numeric|)
  /// Where the largest relative error is: input index, its shape, flat element
  /// index, and both values there.
  std::size_t worst_input = 0;
  Shape worst_input_shape;
  std::size_t worst_element = 0;
  double analytic = 0, numeric = 0;
  /// The ops f recorded, in order (what the tape differentiated).
  std::vector<std::string> ops;
  /// One line for a failing test: the ops, the worst input and element, both values.
  std::string describe() const;
};

/// Compares the tape's gradient of `f` at `inputs` with central finite
/// differences. Rather than building the full Jacobian it checks the
/// vector-Jacobian product with a fixed random weighting w of the output
/// (entries of either sign, |w| in [0.5, 1.5]): the analytic side is one
/// backward pass of f with output_gradients = w, the numeric side is
/// (L(x + delta) - L(x - delta)) / (2 delta) per input element, with
/// L = sum(w * f(x)). Use float64 inputs; a mistake in any Jacobian entry
/// shows up unless w happens to cancel it, which a second seed rules out.
GradientCheckResult check_gradients(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                                    const std::vector<Tensor>& inputs, double delta = 1e-6,
                                    std::uint64_t seed = 1234);

}  // namespace tapeflow
