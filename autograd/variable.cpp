// Variables and the trainable-variables collection.
#include "tapeflow/autograd/variable.hpp"

#include <algorithm>
#include <mutex>
#include <unordered_map>

#include "tapeflow/autograd/ops.hpp"
#include "tapeflow/autograd/tape.hpp"
#include "tapeflow/core/detail/tensor_impl.hpp"

namespace tapeflow {
namespace detail {

struct VariableImpl : std::enable_shared_from_this<VariableImpl> {
  std::string name;
  bool trainable;
  Tensor value;
  ~VariableImpl();
};

namespace {
struct Registry {
  std::mutex mutex;
  std::vector<VariableImpl*> trainable;  // creation order
  std::unordered_map<std::string, int> name_uses;
};
Registry& registry() {
  static Registry r;
  return r;
}

// A fresh storage the variable owns alone, marked for automatic watching.
Tensor own_copy(const Tensor& t, bool trainable) {
  return dispatch_any(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto impl = std::make_shared<TensorImpl>(Array<T>(arr<T>(t)));
    impl->watch_by_default = trainable;
    return Tensor(std::shared_ptr<const TensorImpl>(std::move(impl)));
  });
}
}  // namespace

VariableImpl::~VariableImpl() {
  if (!trainable) return;
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  r.trainable.erase(std::remove(r.trainable.begin(), r.trainable.end(), this), r.trainable.end());
}

}  // namespace detail

Variable::Variable(Tensor initial_value, std::string name, bool trainable) {
  if (!initial_value.defined()) {
    throw InvalidArgumentError("Variable: the initial value is an undefined tensor");
  }
  if (trainable && !is_floating(initial_value.dtype())) {
    throw DTypeError(
        fmt::format("Variable: a trainable variable must be float32 or float64, got {}",
                    dtype_name(initial_value.dtype())));
  }
  impl_ = std::make_shared<detail::VariableImpl>();
  impl_->trainable = trainable;
  impl_->value = detail::own_copy(initial_value, trainable);
  auto& r = detail::registry();
  std::lock_guard lock(r.mutex);
  if (name.empty()) {
    // Unnamed variables get TF's graph-style names: "Variable", "Variable_1", ...
    // A given name is kept as is, so that a program names its variables the
    // same way in every run and checkpoints (keyed by name) find them again.
    int& uses = r.name_uses["Variable"];
    name = uses == 0 ? "Variable" : fmt::format("Variable_{}", uses);
    ++uses;
  }
  impl_->name = std::move(name);
  if (trainable) r.trainable.push_back(impl_.get());
}

const std::string& Variable::name() const { return impl_->name; }
bool Variable::trainable() const { return impl_->trainable; }
const Tensor& Variable::value() const { return impl_->value; }

void Variable::assign(const Tensor& value) {
  if (value.dtype() != dtype()) {
    throw DTypeError(fmt::format("Variable::assign: variable '{}' is {}, value is {}", name(),
                                 dtype_name(dtype()), dtype_name(value.dtype())));
  }
  if (value.shape() != shape()) {
    throw ShapeError(fmt::format("Variable::assign: variable '{}' has shape {}, value has shape {}",
                                 name(), shape_str(shape()), shape_str(value.shape())));
  }
  impl_->value = detail::own_copy(value, impl_->trainable);
}

void Variable::assign_add(const Tensor& delta) {
  NoRecordScope no_record;
  assign(value() + delta);
}
void Variable::assign_sub(const Tensor& delta) {
  NoRecordScope no_record;
  assign(value() - delta);
}

template <class T>
T* Variable::mutable_data() {
  if (detail::dtype_of<T>() != dtype()) {
    throw DTypeError(fmt::format("Variable::mutable_data: variable '{}' is {}, requested {}",
                                 name(), dtype_name(dtype()), dtype_name(detail::dtype_of<T>())));
  }
  if (impl_->value.impl().use_count() > 1)
    impl_->value = detail::own_copy(impl_->value, trainable());
  // Sole owner: nobody else can observe the change, so updating in place keeps
  // the "tensors are immutable" promise.
  auto& data = const_cast<detail::TensorImpl&>(*impl_->value.impl()).data;
  return std::get<detail::Array<T>>(data).data();
}
template float* Variable::mutable_data<float>();
template double* Variable::mutable_data<double>();
template std::int64_t* Variable::mutable_data<std::int64_t>();

std::vector<Variable> trainable_variables() {
  auto& r = detail::registry();
  std::lock_guard lock(r.mutex);
  std::vector<Variable> out;
  for (auto* impl : r.trainable) {
    if (auto sp = impl->weak_from_this().lock()) out.emplace_back(std::move(sp));
  }
  return out;
}

Variable create_global_step() {
  return Variable(Tensor(std::int64_t{0}), "global_step", /*trainable=*/false);
}

}  // namespace tapeflow
