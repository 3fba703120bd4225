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

// A trainable collection: one per thread (TF1's collections belong to a
// graph; a thread is tapeflow's nearest equivalent), so two threads training
// two models never see each other's variables. Shared pointers, because a
// variable may outlive its thread, or be destroyed on another one.
struct Collection {
  std::mutex mutex;
  std::vector<VariableImpl*> list;  // insertion order
};

struct VariableImpl : std::enable_shared_from_this<VariableImpl> {
  std::string name;
  bool trainable;
  Tensor value;
  std::mutex homes_mutex;
  std::vector<std::shared_ptr<Collection>> homes;  // the collections that list it
  ~VariableImpl();
};

namespace {
std::shared_ptr<Collection>& thread_collection() {
  thread_local auto c = std::make_shared<Collection>();
  return c;
}

// Unnamed variables are numbered process-wide, so names stay unique.
struct Names {
  std::mutex mutex;
  std::unordered_map<std::string, int> uses;
};
Names& names() {
  static Names n;
  return n;
}

void list_in(const std::shared_ptr<Collection>& c, VariableImpl* impl) {
  {
    std::lock_guard lock(impl->homes_mutex);
    for (const auto& h : impl->homes) {
      if (h == c) return;
    }
    impl->homes.push_back(c);
  }
  std::lock_guard lock(c->mutex);
  c->list.push_back(impl);
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
  for (const auto& c : homes) {
    std::lock_guard lock(c->mutex);
    c->list.erase(std::remove(c->list.begin(), c->list.end(), this), c->list.end());
  }
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
  if (name.empty()) {
    // Unnamed variables get TF's graph-style names: "Variable", "Variable_1", ...
    // A given name is kept as is, so that a program names its variables the
    // same way in every run and checkpoints (keyed by name) find them again.
    auto& n = detail::names();
    std::lock_guard lock(n.mutex);
    int& uses = n.uses["Variable"];
    name = uses == 0 ? "Variable" : fmt::format("Variable_{}", uses);
    ++uses;
  }
  impl_->name = std::move(name);
  if (trainable) detail::list_in(detail::thread_collection(), impl_.get());
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
  auto& c = *detail::thread_collection();
  std::lock_guard lock(c.mutex);
  std::vector<Variable> out;
  for (auto* impl : c.list) {
    if (auto sp = impl->weak_from_this().lock()) out.emplace_back(std::move(sp));
  }
  return out;
}

void add_to_trainable_variables(const Variable& variable) {
  if (!variable.trainable()) {
    throw InvalidArgumentError(
        fmt::format("add_to_trainable_variables: variable '{}' is not trainable", variable.name()));
  }
  detail::list_in(detail::thread_collection(), variable.impl().get());
}

Variable create_global_step() {
  return Variable(Tensor(std::int64_t{0}), "global_step", /*trainable=*/false);
}

}  // namespace tapeflow
