// TensorFlow's gradient clipping functions, with the exact formulas and edge
// cases of docs/semantics.md §3. Each takes a dense Tensor, IndexedSlices, or
// a Gradient (none comes back as none). The clipping stage is in stage.hpp.
#pragma once
#include <optional>
#include <utility>
#include <vector>

#include "tapeflow/autograd/gradient.hpp"
#include "tapeflow/autograd/ops.hpp"

namespace tapeflow::clip {

// ---- TF's functions ------------------------------------------------------

/// max(min(t, clip_value_max), clip_value_min). Bounds are scalars or tensors
/// broadcastable *to* t's shape. NaN in t stays NaN. Differentiable when
/// recorded: g passes where lo <= t <= hi (inclusive), a tensor bound receives
/// g where t fell outside on its side.
/// @throws InvalidArgumentError if any min > max ("clip_value_min"), a bound is
/// NaN ("clip_value"), or a bound would enlarge t ("broadcast").
Tensor clip_by_value(const Tensor& t, const Tensor& clip_value_min, const Tensor& clip_value_max);
Tensor clip_by_value(const Tensor& t, double clip_value_min, double clip_value_max);
/// Clips the values; indices and dense_shape are kept (duplicates are bounded
/// separately). Tensor bounds broadcast to the values' shape.
IndexedSlices clip_by_value(const IndexedSlices& t, double clip_value_min, double clip_value_max);
IndexedSlices clip_by_value(const IndexedSlices& t, const Tensor& clip_value_min,
                            const Tensor& clip_value_max);
/// Either kind; none is returned as none, so `g = clip_by_value(g, -1, 1)` needs no test.
Gradient clip_by_value(const Gradient& g, double clip_value_min, double clip_value_max);
Gradient clip_by_value(const Gradient& g, const Tensor& clip_value_min,
                       const Tensor& clip_value_max);

/// t * clip_norm / max(‖t‖, clip_norm), with the norm over `axes` (default all;
/// an explicit empty list clips every element to magnitude clip_norm). A zero
/// slice stays zero; clip_norm = +inf returns t. Differentiable when recorded.
/// @throws InvalidArgumentError for clip_norm <= 0 or NaN ("clip_norm"), a bad axis.
Tensor clip_by_norm(const Tensor& t, double clip_norm, const Axes& axes = std::nullopt);
/// On the values (axes refer to the values' axes); duplicates are not merged.
IndexedSlices clip_by_norm(const IndexedSlices& t, double clip_norm,
                           const Axes& axes = std::nullopt);
/// Either kind; none is returned as none.
Gradient clip_by_norm(const Gradient& g, double clip_norm, const Axes& axes = std::nullopt);

/// TF1: t * clip_norm * min(N / ‖t‖, 1 / clip_norm), N = size(t): t is scaled
/// when ‖t‖ / N (the L2 norm divided by the element count) exceeds clip_norm.
/// IndexedSlices are densified (duplicates summed); the result is dense.
Tensor clip_by_average_norm(const Tensor& t, double clip_norm);
Tensor clip_by_average_norm(const IndexedSlices& t, double clip_norm);
/// Either kind (the result is dense); none is returned as none.
Gradient clip_by_average_norm(const Gradient& g, double clip_norm);

/// sqrt of the sum of squares of every element of every entry, accumulated in
/// double. None entries are ignored; IndexedSlices count their values.
/// Returns a rank-0 float64 tensor if any entry is float64, else float32.
Tensor global_norm(const std::vector<Gradient>& t_list);
Tensor global_norm(const std::vector<Tensor>& t_list);

/// Scales every entry by clip_norm / max(norm, clip_norm), norm = use_norm if
/// given, else global_norm(t_list), with the scale computed from the norm in
/// double and rounded once to each entry's dtype (docs/semantics.md §3.5; the
/// stage's by_global_norm gives bit-identical results). A non-finite norm makes
/// every entry NaN. None entries stay none, IndexedSlices stay sparse.
/// Returns (list, norm).
/// @throws InvalidArgumentError for a bad clip_norm ("clip_norm") or use_norm < 0 ("use_norm").
std::pair<std::vector<Gradient>, Tensor> clip_by_global_norm(
    const std::vector<Gradient>& t_list, double clip_norm,
    const std::optional<Tensor>& use_norm = std::nullopt);
std::pair<std::vector<Tensor>, Tensor> clip_by_global_norm(
    const std::vector<Tensor>& t_list, double clip_norm,
    const std::optional<Tensor>& use_norm = std::nullopt);

}  // namespace tapeflow::clip
