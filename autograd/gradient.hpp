// A gradient value: dense Tensor, IndexedSlices, or none (TF's None).
#pragma once
#include <cstddef>
#include <functional>
#include <variant>
#include <vector>

#include "tapeflow/core/tensor.hpp"

namespace tapeflow {

/// A sparse gradient of a variable of shape `dense_shape` = [R, d...]: row k of
/// `values` ([N, d...]) belongs to row `indices[k]` (int64, N of them). The dense
/// meaning is the scatter-add of the rows, so duplicate indices sum.
struct IndexedSlices {
  Tensor values;
  Tensor indices;
  Shape dense_shape;

  /// Checks the invariants above. @throws ShapeError / DTypeError / InvalidArgumentError.
  void validate(const char* op) const;
  DType dtype() const { return values.dtype(); }
  /// Scatter-adds the rows into a dense tensor of `dense_shape`.
  Tensor to_dense() const;
};

/// Sums the rows of duplicate indices (TF's _apply_sparse_duplicate_indices):
/// the result has each index once, in first-seen order. The optimizer base
/// applies it before every sparse update.
IndexedSlices merge_duplicates(const IndexedSlices& slices);

/// What a gradient slot holds. Default-constructed it is none: "this variable
/// does not influence the target", which is not the same as zeros.
class Gradient {
 public:
  Gradient() = default;
  Gradient(Tensor dense);          // NOLINT: implicit, a tensor is a gradient
  Gradient(IndexedSlices sparse);  // NOLINT

  bool is_none() const { return std::holds_alternative<std::monostate>(v_); }
  bool is_dense() const { return std::holds_alternative<Tensor>(v_); }
  bool is_sparse() const { return std::holds_alternative<IndexedSlices>(v_); }
  explicit operator bool() const { return !is_none(); }

  /// @throws InvalidArgumentError if the gradient is not of that kind.
  const Tensor& dense() const;
  const IndexedSlices& sparse() const;
  /// The dense tensor, scatter-adding IndexedSlices. @throws on none.
  Tensor to_dense() const;
  /// The tensor holding the numbers: the dense tensor or the slices' values.
  const Tensor& values() const;
  /// Same kind and indices, other values (for clip functions that scale values).
  Gradient with_values(Tensor values) const;
  DType dtype() const { return values().dtype(); }
  /// The shape of the variable this gradient is for.
  const Shape& dense_shape() const;

 private:
  std::variant<std::monostate, Tensor, IndexedSlices> v_;
};

class Variable;
/// TF's list of (gradient, variable) pairs.
using GradsAndVars = std::vector<std::pair<Gradient, Variable>>;

/// Called during a reverse sweep as soon as the gradient of source
/// `source_index` is final (no later op can add to it), before the sweep goes
/// on: the last layers' gradients are reported first. What data-parallel
/// training uses to start communicating while the backward pass runs.
using GradientReadyFn = std::function<void(std::size_t source_index, const Gradient& gradient)>;

}  // namespace tapeflow
