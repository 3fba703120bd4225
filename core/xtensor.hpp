// Optional bridge between tapeflow tensors and xtensor arrays. Nothing else in
// tapeflow's public headers includes xtensor; include this where you want it.
// The conversions copy (a Tensor is immutable, an xarray is not) and work
// with whatever xtensor configuration the including program uses.
#pragma once
#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>

#include "tapeflow/core/tensor.hpp"

namespace tapeflow {

/// A tensor holding a copy of `array` (float, double or std::int64_t elements).
template <class T, xt::layout_type L, class A, class SA>
Tensor from_xarray(const xt::xarray<T, L, A, SA>& array) {
  const Shape shape(array.shape().begin(), array.shape().end());
  if (L == xt::layout_type::row_major || array.dimension() < 2) {
    return Tensor::from_data(array.data(), shape);
  }
  const xt::xarray<T, xt::layout_type::row_major> row_major = array;
  return Tensor::from_data(row_major.data(), shape);
}

/// A read-only xtensor view of `t`'s storage (no copy). It is valid while `t`
/// (or a copy of its handle) lives. @throws DTypeError if T is not t's dtype.
template <class T>
auto as_xtensor(const Tensor& t) {
  return xt::adapt(t.data<T>(), t.size(), xt::no_ownership(), t.shape());
}

/// A copy of `t` as an xt::xarray<T>. @throws DTypeError if T is not t's dtype.
template <class T>
xt::xarray<T> to_xarray(const Tensor& t) {
  return as_xtensor<T>(t);
}

}  // namespace tapeflow
