// IndexedSlices and the Gradient variant.
#include "tapeflow/autograd/gradient.hpp"

#include <cstring>
#include <unordered_map>

#include "tapeflow/core/detail/tensor_impl.hpp"

namespace tapeflow {

void IndexedSlices::validate(const char* op) const {
  if (!values.defined() || !indices.defined()) {
    throw InvalidArgumentError(
        fmt::format("{}: IndexedSlices with undefined values or indices", op));
  }
  if (indices.dtype() != DType::int64 || indices.rank() != 1) {
    throw DTypeError(
        fmt::format("{}: IndexedSlices indices must be a rank-1 int64 tensor, got {} {}", op,
                    dtype_name(indices.dtype()), shape_str(indices.shape())));
  }
  if (!is_floating(values.dtype())) {
    throw DTypeError(fmt::format("{}: IndexedSlices values must be float32 or float64, got {}", op,
                                 dtype_name(values.dtype())));
  }
  const Shape& vs = values.shape();
  if (vs.empty() || dense_shape.empty() || vs[0] != indices.size() ||
      !std::equal(vs.begin() + 1, vs.end(), dense_shape.begin() + 1, dense_shape.end())) {
    throw ShapeError(fmt::format(
        "{}: IndexedSlices shape mismatch: values {} with {} indices do not fit dense_shape {} "
        "(expected values of shape [{}, ...dense_shape[1:]])",
        op, shape_str(vs), indices.size(), shape_str(dense_shape), indices.size()));
  }
  const auto* idx = indices.data<std::int64_t>();
  for (std::size_t k = 0; k < indices.size(); ++k) {
    if (idx[k] < 0 || static_cast<std::size_t>(idx[k]) >= dense_shape[0]) {
      throw InvalidArgumentError(
          fmt::format("{}: IndexedSlices index {} at position {} is out of range [0, {})", op,
                      idx[k], k, dense_shape[0]));
    }
  }
}

Tensor IndexedSlices::to_dense() const {
  validate("IndexedSlices::to_dense");
  return detail::dispatch_float("IndexedSlices::to_dense", values.dtype(), [&](auto t) {
    using T = decltype(t);
    auto out = detail::Array<T>::from_shape(detail::xshape(dense_shape));
    out.fill(T(0));
    const std::size_t row =
        values.rank() ? values.size() / std::max<std::size_t>(values.shape()[0], 1) : 1;
    const T* v = values.data<T>();
    const auto* idx = indices.data<std::int64_t>();
    for (std::size_t k = 0; k < indices.size(); ++k) {
      T* dst = out.data() + idx[k] * row;
      for (std::size_t j = 0; j < row; ++j) dst[j] += v[k * row + j];
    }
    return detail::make_tensor(std::move(out));
  });
}

Gradient::Gradient(Tensor dense) : v_(std::move(dense)) {}
Gradient::Gradient(IndexedSlices sparse) : v_(std::move(sparse)) {}

const Tensor& Gradient::dense() const {
  if (!is_dense())
    throw InvalidArgumentError("Gradient::dense: the gradient is not a dense tensor");
  return std::get<Tensor>(v_);
}
const IndexedSlices& Gradient::sparse() const {
  if (!is_sparse())
    throw InvalidArgumentError("Gradient::sparse: the gradient is not IndexedSlices");
  return std::get<IndexedSlices>(v_);
}
Tensor Gradient::to_dense() const { return is_sparse() ? sparse().to_dense() : dense(); }
const Tensor& Gradient::values() const { return is_sparse() ? sparse().values : dense(); }
Gradient Gradient::with_values(Tensor values) const {
  if (is_sparse()) return IndexedSlices{std::move(values), sparse().indices, sparse().dense_shape};
  return Gradient(std::move(values));
}
const Shape& Gradient::dense_shape() const {
  return is_sparse() ? sparse().dense_shape : dense().shape();
}

IndexedSlices merge_duplicates(const IndexedSlices& slices) {
  const std::size_t n = slices.indices.size();
  const auto* idx = slices.indices.data<std::int64_t>();
  std::unordered_map<std::int64_t, std::size_t> pos;
  std::vector<std::int64_t> unique;
  std::vector<std::size_t> seg(n);
  for (std::size_t k = 0; k < n; ++k) {
    auto [it, fresh] = pos.try_emplace(idx[k], unique.size());
    if (fresh) unique.push_back(idx[k]);
    seg[k] = it->second;
  }
  if (unique.size() == n) return slices;
  const std::size_t row = n ? slices.values.size() / n : 0;
  Shape vshape = slices.values.shape();
  vshape[0] = unique.size();
  Tensor values = detail::dispatch_float("merge_duplicates", slices.values.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto out = detail::Array<T>::from_shape(detail::xshape(vshape));
    out.fill(T(0));
    const T* v = slices.values.data<T>();
    for (std::size_t k = 0; k < n; ++k) {
      for (std::size_t j = 0; j < row; ++j) out.data()[seg[k] * row + j] += v[k * row + j];
    }
    return detail::make_tensor(std::move(out));
  });
  return {values, Tensor::from_vector(unique, {unique.size()}), slices.dense_shape};
}

}  // namespace tapeflow
