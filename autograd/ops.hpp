// Differentiable ops. Each runs eagerly; inside a GradientTape it also records
// its backward rule. Binary ops broadcast like NumPy and need equal dtypes;
// a C++ scalar operand takes the tensor's dtype.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "tapeflow/core/tensor.hpp"

namespace tapeflow {

/// Reduction axes: std::nullopt means every axis; negative axes count from the
/// end. Note `{}` passed for an Axes parameter is std::nullopt; an explicit
/// empty list is `std::vector<int>{}`.
using Axes = std::optional<std::vector<int>>;

// Elementwise binary (broadcasting).
Tensor add(const Tensor& x, const Tensor& y);
Tensor sub(const Tensor& x, const Tensor& y);
Tensor mul(const Tensor& x, const Tensor& y);
Tensor div(const Tensor& x, const Tensor& y);
Tensor pow(const Tensor& x, const Tensor& y);
/// Ties send the whole gradient to x (TF), not half to each (PyTorch).
Tensor maximum(const Tensor& x, const Tensor& y);
Tensor minimum(const Tensor& x, const Tensor& y);

// Elementwise unary.
Tensor neg(const Tensor& x);
Tensor square(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor softplus(const Tensor& x);

/// The value of x with no gradient flowing back through it.
Tensor stop_gradient(const Tensor& x);
/// TF's check_numerics: `x` itself if every element is finite, else a
/// NonFiniteError naming `message`, the first bad element's index and value.
/// Recorded: the gradient passes through and is checked the same way (its
/// message gets " (gradient)").
Tensor check_numerics(const Tensor& x, const std::string& message);
/// Converts between float32 and float64 (differentiable) or to/from int64 (not).
Tensor cast(const Tensor& x, DType dtype);

/// Matrix product of rank-2 tensors, or batched over the first axis of rank-3
/// tensors (equal batch sizes). Flags transpose the last two axes of an input.
/// Runs on BLAS (OpenBLAS sgemm/dgemm).
Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a = false, bool transpose_b = false);

// Shape ops.
/// `perm` defaults to reversing the axes.
Tensor transpose(const Tensor& x, const std::vector<int>& perm = {});
/// One entry of `shape` may be -1 (inferred).
Tensor reshape(const Tensor& x, const std::vector<long>& shape);
Tensor concat(const std::vector<Tensor>& xs, int axis);
/// TF's slice: `size[i] == -1` takes everything from begin[i] to the end.
Tensor slice(const Tensor& x, const std::vector<long>& begin, const std::vector<long>& size);
/// Rows of `params` (axis 0) picked by int64 `indices` of any shape; the output
/// has shape indices.shape + params.shape[1:]. The gradient is IndexedSlices.
Tensor gather(const Tensor& params, const Tensor& indices);

// Reductions.
Tensor reduce_sum(const Tensor& x, const Axes& axes = std::nullopt, bool keepdims = false);
Tensor reduce_mean(const Tensor& x, const Axes& axes = std::nullopt, bool keepdims = false);
/// The gradient is shared equally among tied maxima.
Tensor reduce_max(const Tensor& x, const Axes& axes = std::nullopt, bool keepdims = false);
Tensor reduce_logsumexp(const Tensor& x, const Axes& axes = std::nullopt, bool keepdims = false);
/// Index of the largest element along `axis` (int64; not differentiable).
Tensor argmax(const Tensor& x, int axis = -1);

// Softmax family, over the last axis.
Tensor softmax(const Tensor& logits);
Tensor log_softmax(const Tensor& logits);
/// Per-row loss sum(labels * (logsumexp(logits) - logits)), shape logits.shape[:-1].
/// The logits gradient is softmax - labels even when label rows do not sum to 1
/// (TF1's kernel); labels receive no gradient.
Tensor softmax_cross_entropy_with_logits(const Tensor& labels, const Tensor& logits);
/// Integer labels (int64, shape logits.shape[:-1]) in [0, classes).
/// @throws InvalidArgumentError ("out of range") for any other label.
Tensor sparse_softmax_cross_entropy_with_logits(const Tensor& labels, const Tensor& logits);

// Convolution and pooling, on NHWC inputs.
/// TF's padding: `same` gives ceil(in / stride) outputs, padding split with
/// the odd element after; `valid` gives ceil((in - k + 1) / stride), no padding.
enum class Padding { same, valid };
/// 2-D convolution (cross-correlation, as TF): input [N, H, W, C], filters
/// [KH, KW, C, O] (HWIO), strides {sh, sw}; output [N, OH, OW, O]. im2col + BLAS.
Tensor conv2d(const Tensor& input, const Tensor& filters, const std::vector<int>& strides = {1, 1},
              Padding padding = Padding::valid);
/// Max over each window (padding never wins); the gradient goes to the first maximum.
Tensor max_pool2d(const Tensor& input, const std::vector<int>& ksize,
                  const std::vector<int>& strides, Padding padding = Padding::valid);
/// Mean over each window's real (unpadded) elements, as TF.
Tensor avg_pool2d(const Tensor& input, const std::vector<int>& ksize,
                  const std::vector<int>& strides, Padding padding = Padding::valid);
/// Keeps each element with probability 1 - rate and scales it by 1 / (1 - rate)
/// (tf.nn.dropout); the mask comes from `rng`. rate 0 returns x.
Tensor dropout(const Tensor& x, double rate, Rng& rng);
/// [N, d1, d2, ...] -> [N, d1 * d2 * ...].
Tensor flatten(const Tensor& x);

// Operators.
Tensor operator+(const Tensor& x, const Tensor& y);
Tensor operator-(const Tensor& x, const Tensor& y);
Tensor operator*(const Tensor& x, const Tensor& y);
Tensor operator/(const Tensor& x, const Tensor& y);
Tensor operator-(const Tensor& x);
/// A C++ scalar operand is converted to the tensor's dtype (as TF converts
/// Python numbers), so `x * 2.0` works for float32 and float64 alike.
Tensor operator+(const Tensor& x, double y);
Tensor operator-(const Tensor& x, double y);
Tensor operator*(const Tensor& x, double y);
Tensor operator/(const Tensor& x, double y);
Tensor operator+(double x, const Tensor& y);
Tensor operator-(double x, const Tensor& y);
Tensor operator*(double x, const Tensor& y);
Tensor operator/(double x, const Tensor& y);
/// A rank-0 tensor holding `value` in `like`'s dtype.
Tensor scalar_like(double value, const Tensor& like);

}  // namespace tapeflow
