// Variable: a named, mutable slot holding a Tensor.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "tapeflow/core/tensor.hpp"

namespace tapeflow {

namespace detail {
struct VariableImpl;
}

/// A named mutable tensor. Copies of a Variable are handles to the same
/// variable (like TF's Python objects). Reading `value()` gives an immutable
/// snapshot; `assign` replaces it. Trainable variables are listed, in creation
/// order, by `trainable_variables()` (TF's TRAINABLE_VARIABLES collection)
/// until their last handle is destroyed; tapes watch them automatically.
class Variable {
 public:
  /// @param name  kept as given (checkpoints find variables by name, so give
  ///              each a distinct one); unnamed variables become "Variable",
  ///              "Variable_1", ...
  /// @throws DTypeError for an integer initial value of a trainable variable.
  explicit Variable(Tensor initial_value, std::string name = "", bool trainable = true);

  const std::string& name() const;
  bool trainable() const;
  DType dtype() const { return value().dtype(); }
  const Shape& shape() const { return value().shape(); }
  /// The current value (cheap handle).
  const Tensor& value() const;
  operator const Tensor&() const { return value(); }  // NOLINT: use a variable where a tensor goes

  /// Replaces the value. @throws ShapeError / DTypeError unless shape and dtype match.
  void assign(const Tensor& value);
  void assign_add(const Tensor& delta);
  void assign_sub(const Tensor& delta);

  /// Identity, for use as a map key.
  const void* key() const { return impl_.get(); }
  bool operator==(const Variable& o) const { return impl_ == o.impl_; }
  bool operator!=(const Variable& o) const { return impl_ != o.impl_; }

  /// Private to optimizers and checkpoints: the storage to update in place.
  /// Copies first if anyone else holds the current value (copy on write), so
  /// snapshots already handed out never change.
  template <class T>
  T* mutable_data();

  explicit Variable(std::shared_ptr<detail::VariableImpl> impl) : impl_(std::move(impl)) {}
  const std::shared_ptr<detail::VariableImpl>& impl() const { return impl_; }

 private:
  std::shared_ptr<detail::VariableImpl> impl_;
};

/// The calling thread's trainable collection: the live trainable variables
/// this thread created (or added), in that order. It is what an empty
/// var_list means. Per thread, as TF1's collections are per graph, so two
/// threads training two models never touch each other's variables
/// (docs/semantics.md §11).
std::vector<Variable> trainable_variables();

/// Lists `variable` in the calling thread's collection too, to share a
/// variable made by another thread. @throws InvalidArgumentError if it is not trainable.
void add_to_trainable_variables(const Variable& variable);

/// A non-trainable int64 scalar named "global_step", starting at 0.
Variable create_global_step();

}  // namespace tapeflow
