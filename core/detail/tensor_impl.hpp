// Private: the storage behind a Tensor handle, and the dtype dispatch helpers
// every kernel uses. The one header that includes xtensor's expression
// templates; no public header includes xtensor at all.
#pragma once
#include <fmt/format.h>

#include <atomic>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <variant>
#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xbroadcast.hpp>
#include <xtensor/xbuilder.hpp>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xreducer.hpp>
#include <xtensor/xstrided_view.hpp>
#include <xtensor/xview.hpp>

#include "tapeflow/core/detail/allocator.hpp"
#include "tapeflow/core/error.hpp"
#include "tapeflow/core/tensor.hpp"

namespace tapeflow::detail {

/// Storage of every tensor: a row-major xarray whose buffer comes from the
/// buffer cache (core/memory.hpp).
template <class T>
using Array = xt::xarray<T, xt::layout_type::row_major, CachingAllocator<T>>;

std::uint64_t next_tensor_id();

struct TensorImpl {
  std::variant<Array<float>, Array<double>, Array<std::int64_t>> data;
  Shape shape;
  std::uint64_t id;
  // Set on the value of a trainable Variable: tapes watch such tensors on first use, as TF does.
  bool watch_by_default = false;

  template <class T>
  explicit TensorImpl(Array<T>&& a)
      : data(std::move(a)),
        shape(std::get<Array<T>>(data).shape().begin(), std::get<Array<T>>(data).shape().end()),
        id(next_tensor_id()) {}
};

template <class T>
constexpr DType dtype_of() {
  if constexpr (std::is_same_v<T, float>)
    return DType::float32;
  else if constexpr (std::is_same_v<T, double>)
    return DType::float64;
  else
    return DType::int64;
}

/// Wraps a freshly computed array in a new handle. The impl is created
/// non-const so that `unique_data` may legally write into it later.
template <class T>
Tensor make_tensor(Array<T>&& a) {
  return Tensor(std::shared_ptr<const TensorImpl>(std::make_shared<TensorImpl>(std::move(a))));
}

/// Writable storage of `t` if this handle is its only owner (nobody else can
/// observe a change, so tensors stay immutable to everyone), else nullptr.
/// Lets a pipeline that owns its gradients, such as the clipping stage, scale
/// them in place instead of allocating.
template <class T>
T* unique_data(Tensor& t) {
  if (!t.defined() || t.impl().use_count() != 1 || t.dtype() != dtype_of<T>()) return nullptr;
  auto& impl = const_cast<TensorImpl&>(*t.impl());
  return std::get<Array<T>>(impl.data).data();
}
template <class T>
const Array<T>& arr(const Tensor& t) {
  return std::get<Array<T>>(t.impl()->data);
}

/// Calls f(T{}) with T = float or double; int64 is a DTypeError naming `op`.
template <class F>
decltype(auto) dispatch_float(const char* op, DType dtype, F&& f) {
  switch (dtype) {
    case DType::float32:
      return f(float{});
    case DType::float64:
      return f(double{});
    default:
      throw DTypeError(
          fmt::format("{}: expected a float32 or float64 tensor, got {}", op, dtype_name(dtype)));
  }
}

template <class F>
decltype(auto) dispatch_any(DType dtype, F&& f) {
  switch (dtype) {
    case DType::float32:
      return f(float{});
    case DType::float64:
      return f(double{});
    default:
      return f(std::int64_t{});
  }
}

/// xtensor wants shapes as its own svector type; ours are std::vector.
inline xt::svector<std::size_t> xshape(const Shape& s) { return {s.begin(), s.end()}; }

}  // namespace tapeflow::detail
