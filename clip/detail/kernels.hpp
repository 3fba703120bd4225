// Private: the clip kernels that TF's functions (clip.cpp) and the stage
// (stage.cpp) share, so both compute exactly the same numbers.
#pragma once
#include <optional>
#include <vector>

#include "tapeflow/autograd/gradient.hpp"
#include "tapeflow/autograd/ops.hpp"
#include "tapeflow/core/tensor.hpp"

namespace tapeflow::clip::kernels {

/// @throws InvalidArgumentError naming `op` unless clip_norm > 0.
void check_clip_norm(const char* op, double clip_norm);
/// @throws InvalidArgumentError for a NaN bound or lo > hi.
void check_bounds(const char* op, double lo, double hi);
/// clip_by_value / clip_by_norm / clip_by_average_norm of one present gradient;
/// `changed` tells whether any value changed.
Gradient value_clip(const Gradient& g, double lo, double hi, bool& changed);
Gradient norm_clip(const Gradient& g, double clip_norm, const Axes& axes, bool& changed);
Gradient average_norm_clip(const Gradient& g, double clip_norm, bool& changed);
/// sqrt of the double sum of squares of every element (docs/semantics.md §3.4).
double global_norm_value(const std::vector<const Tensor*>& ts);
/// clip_norm / max(norm, clip_norm); NaN for a non-finite norm (§3.5).
double global_scale(double norm, double clip_norm);
/// Multiplies every present entry by `scale` rounded to its dtype, in place
/// where the list holds the only handle. A scale of 1 returns the list as is.
std::vector<Gradient> scale_list(std::vector<Gradient> list, double scale);
/// The tensors holding the numbers of the present entries.
std::vector<const Tensor*> present(const std::vector<Gradient>& list);

}  // namespace tapeflow::clip::kernels
