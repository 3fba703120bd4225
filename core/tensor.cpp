// Tensor handles, factories, printing and the seeded generator.
#include "tapeflow/core/tensor.hpp"

#include <cblas.h>
#include <omp.h>

#include <cmath>
#include <numeric>
#include <ostream>

#include "tapeflow/core/detail/tensor_impl.hpp"

namespace tapeflow {
namespace detail {
std::uint64_t next_tensor_id() {
  static std::atomic<std::uint64_t> counter{1};
  return counter.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace detail

using detail::Array;

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::float32:
      return "float32";
    case DType::float64:
      return "float64";
    case DType::int64:
      return "int64";
  }
  return "?";
}

std::string shape_str(const Shape& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

std::size_t shape_size(const Shape& shape) {
  return std::accumulate(shape.begin(), shape.end(), std::size_t{1}, std::multiplies<>());
}

Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b) {
  const std::size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (std::size_t i = 0; i < rank; ++i) {
    const std::size_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const std::size_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1) {
      throw ShapeError(
          fmt::format("{}: operands with shapes {} and {} cannot be broadcast together", op,
                      shape_str(a), shape_str(b)));
    }
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Tensor::Tensor(double value) : Tensor(detail::make_tensor(Array<double>(value))) {}
Tensor::Tensor(float value) : Tensor(detail::make_tensor(Array<float>(value))) {}
Tensor::Tensor(std::int64_t value) : Tensor(detail::make_tensor(Array<std::int64_t>(value))) {}

namespace {
template <class T>
Tensor from_doubles(const std::vector<double>& flat, const Shape& shape) {
  Array<T> a = Array<T>::from_shape(detail::xshape(shape));
  std::transform(flat.begin(), flat.end(), a.begin(), [](double v) { return static_cast<T>(v); });
  return detail::make_tensor(std::move(a));
}
Tensor from_doubles(const std::vector<double>& flat, const Shape& shape, DType dtype) {
  return detail::dispatch_any(dtype,
                              [&](auto t) { return from_doubles<decltype(t)>(flat, shape); });
}
[[noreturn]] void ragged() {
  throw ShapeError("Tensor: nested initializer lists must be rectangular (rows of equal length)");
}
}  // namespace

Tensor::Tensor(std::initializer_list<double> values, DType dtype)
    : Tensor(from_doubles(std::vector<double>(values), {values.size()}, dtype)) {}

Tensor::Tensor(std::initializer_list<std::initializer_list<double>> values, DType dtype) {
  std::vector<double> flat;
  const std::size_t cols = values.size() ? values.begin()->size() : 0;
  for (const auto& row : values) {
    if (row.size() != cols) ragged();
    flat.insert(flat.end(), row.begin(), row.end());
  }
  *this = from_doubles(flat, {values.size(), cols}, dtype);
}

Tensor::Tensor(std::initializer_list<std::initializer_list<std::initializer_list<double>>> values,
               DType dtype) {
  std::vector<double> flat;
  const std::size_t rows = values.size() ? values.begin()->size() : 0;
  std::size_t cols = rows ? values.begin()->begin()->size() : 0;
  for (const auto& plane : values) {
    if (plane.size() != rows) ragged();
    for (const auto& row : plane) {
      if (row.size() != cols) ragged();
      flat.insert(flat.end(), row.begin(), row.end());
    }
  }
  *this = from_doubles(flat, {values.size(), rows, cols}, dtype);
}

namespace {
template <class T>
Tensor from_flat(const std::vector<T>& values, const Shape& shape) {
  if (values.size() != shape_size(shape)) {
    throw ShapeError(
        fmt::format("Tensor::from_vector: {} values cannot fill shape {} ({} elements)",
                    values.size(), shape_str(shape), shape_size(shape)));
  }
  Array<T> a = Array<T>::from_shape(detail::xshape(shape));
  std::copy(values.begin(), values.end(), a.begin());
  return detail::make_tensor(std::move(a));
}
}  // namespace

Tensor Tensor::from_vector(const std::vector<float>& v, const Shape& s) { return from_flat(v, s); }
Tensor Tensor::from_vector(const std::vector<double>& v, const Shape& s) { return from_flat(v, s); }
Tensor Tensor::from_vector(const std::vector<std::int64_t>& v, const Shape& s) {
  return from_flat(v, s);
}

namespace {
template <class T>
Tensor copy_of(const T* data, const Shape& shape) {
  Array<T> a = Array<T>::from_shape(detail::xshape(shape));
  std::copy_n(data, a.size(), a.data());
  return detail::make_tensor(std::move(a));
}
}  // namespace

Tensor Tensor::from_data(const float* d, const Shape& s) { return copy_of(d, s); }
Tensor Tensor::from_data(const double* d, const Shape& s) { return copy_of(d, s); }
Tensor Tensor::from_data(const std::int64_t* d, const Shape& s) { return copy_of(d, s); }

namespace {
const detail::TensorImpl& checked(const std::shared_ptr<const detail::TensorImpl>& impl) {
  if (!impl) throw InvalidArgumentError("Tensor: use of an undefined (default-constructed) tensor");
  return *impl;
}
}  // namespace

DType Tensor::dtype() const { return static_cast<DType>(checked(impl_).data.index()); }
const Shape& Tensor::shape() const { return checked(impl_).shape; }
std::size_t Tensor::size() const { return shape_size(shape()); }
std::uint64_t Tensor::id() const { return checked(impl_).id; }

template <class T>
const T* Tensor::data() const {
  const auto& impl = checked(impl_);
  if (!std::holds_alternative<Array<T>>(impl.data)) {
    throw DTypeError(fmt::format("Tensor::data: requested {} but the tensor is {}",
                                 dtype_name(detail::dtype_of<T>()), dtype_name(dtype())));
  }
  return std::get<Array<T>>(impl.data).data();
}
template const float* Tensor::data<float>() const;
template const double* Tensor::data<double>() const;
template const std::int64_t* Tensor::data<std::int64_t>() const;

double Tensor::item() const {
  if (size() != 1) {
    throw ShapeError(fmt::format("Tensor::item: expected a tensor of one element, got shape {}",
                                 shape_str(shape())));
  }
  return detail::dispatch_any(dtype(), [&](auto t) {
    return static_cast<double>(*detail::arr<decltype(t)>(*this).data());
  });
}

std::vector<double> Tensor::to_vector() const {
  return detail::dispatch_any(dtype(), [&](auto t) {
    const auto& a = detail::arr<decltype(t)>(*this);
    return std::vector<double>(a.begin(), a.end());
  });
}

namespace {
// Prints one axis at a time like NumPy's array2string: rows on their own
// lines, and for tensors over 1000 elements only 3 items at each edge.
void print_axis(std::string& out, const std::vector<double>& v, const Shape& shape,
                std::size_t axis, std::size_t offset, bool elide, bool integer,
                std::size_t indent) {
  if (axis == shape.size()) {
    const double x = v[offset];
    out += integer ? fmt::format("{}", static_cast<std::int64_t>(x)) : fmt::format("{:.6g}", x);
    return;
  }
  std::size_t stride = 1;
  for (std::size_t a = axis + 1; a < shape.size(); ++a) stride *= shape[a];
  const std::size_t n = shape[axis];
  out += '[';
  for (std::size_t i = 0; i < n; ++i) {
    if (elide && n > 6 && i == 3) {
      out += axis + 1 == shape.size() ? "..., " : fmt::format("...,\n{:{}}", "", indent + 1);
      i = n - 3;
    }
    print_axis(out, v, shape, axis + 1, offset + i * stride, elide, integer, indent + 1);
    if (i + 1 < n) out += axis + 1 == shape.size() ? ", " : fmt::format(",\n{:{}}", "", indent + 1);
  }
  out += ']';
}
}  // namespace

std::string Tensor::str() const {
  if (!defined()) return "Tensor(undefined)";
  std::string out = "Tensor(";
  print_axis(out, to_vector(), shape(), 0, 0, size() > 1000, dtype() == DType::int64, 7);
  std::string dims;
  for (std::size_t i = 0; i < rank(); ++i) dims += fmt::format(i ? ", {}" : "{}", shape()[i]);
  if (rank() == 1) dims += ",";
  out += fmt::format(", shape=({}), dtype={})", dims, dtype_name(dtype()));
  return out;
}

Tensor full(const Shape& shape, double value, DType dtype) {
  return detail::dispatch_any(dtype, [&](auto t) {
    using T = decltype(t);
    Array<T> a = Array<T>::from_shape(detail::xshape(shape));
    a.fill(static_cast<T>(value));
    return detail::make_tensor(std::move(a));
  });
}
Tensor zeros(const Shape& shape, DType dtype) { return full(shape, 0.0, dtype); }
Tensor ones(const Shape& shape, DType dtype) { return full(shape, 1.0, dtype); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype()); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), t.dtype()); }

Tensor convert(const Tensor& t, DType dtype) {
  if (t.dtype() == dtype) return t;
  return detail::dispatch_any(t.dtype(), [&](auto s) {
    const auto& src = detail::arr<decltype(s)>(t);
    return detail::dispatch_any(dtype, [&](auto d) {
      using D = decltype(d);
      return detail::make_tensor(Array<D>(xt::cast<D>(src)));
    });
  });
}

// xoshiro256** seeded through splitmix64: small, fast and fully specified, so
// a seed gives the same numbers everywhere (std::mt19937 would too, but the
// std distributions on top of it are implementation-defined).
Rng::Rng(std::uint64_t s) { seed(s); }

void Rng::seed(std::uint64_t s) {
  for (auto& word : state_) {
    s += 0x9e3779b97f4a7c15ULL;
    std::uint64_t z = s;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    word = z ^ (z >> 31);
  }
  has_spare_ = false;
}

std::uint64_t Rng::next_u64() {
  const auto rotl = [](std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); };
  const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
  const std::uint64_t t = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = rotl(state_[3], 45);
  return result;
}

double Rng::uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

double Rng::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  double u1 = uniform();
  while (u1 <= 0.0) u1 = uniform();
  const double u2 = uniform();
  const double r = std::sqrt(-2.0 * std::log(u1));
  spare_ = r * std::sin(2.0 * M_PI * u2);
  has_spare_ = true;
  return r * std::cos(2.0 * M_PI * u2);
}

std::uint64_t Rng::below(std::uint64_t n) {
  // Rejection sampling removes the modulo bias.
  const std::uint64_t limit = n ? (~std::uint64_t{0} - n + 1) % n : 0;
  std::uint64_t x = next_u64();
  while (x < limit) x = next_u64();
  return n ? x % n : 0;
}

Rng& default_rng() {
  thread_local Rng rng(0);
  return rng;
}
void set_seed(std::uint64_t seed) { default_rng().seed(seed); }

namespace {
template <class Gen>
Tensor generate(const char* op, const Shape& shape, DType dtype, Gen&& gen) {
  return detail::dispatch_float(op, dtype, [&](auto t) {
    using T = decltype(t);
    Array<T> a = Array<T>::from_shape(detail::xshape(shape));
    for (auto& x : a) x = static_cast<T>(gen());
    return detail::make_tensor(std::move(a));
  });
}
}  // namespace

Tensor random_normal(const Shape& shape, double mean, double stddev, DType dtype, Rng& rng) {
  return generate("random_normal", shape, dtype, [&] { return mean + stddev * rng.normal(); });
}
Tensor random_uniform(const Shape& shape, double minval, double maxval, DType dtype, Rng& rng) {
  return generate("random_uniform", shape, dtype,
                  [&] { return minval + (maxval - minval) * rng.uniform(); });
}
Tensor truncated_normal(const Shape& shape, double mean, double stddev, DType dtype, Rng& rng) {
  return generate("truncated_normal", shape, dtype, [&] {
    double z = rng.normal();
    while (std::abs(z) > 2.0) z = rng.normal();
    return mean + stddev * z;
  });
}

void set_num_threads(int threads) {
  if (threads <= 0) {
    throw InvalidArgumentError(
        fmt::format("set_num_threads: threads must be a positive number, got {}", threads));
  }
  omp_set_num_threads(threads);
  openblas_set_num_threads(1);  // tapeflow splits large products itself: core/detail/blas.hpp
}

int num_threads() { return omp_get_max_threads(); }

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }
std::ostream& operator<<(std::ostream& os, DType dtype) { return os << dtype_name(dtype); }

}  // namespace tapeflow
