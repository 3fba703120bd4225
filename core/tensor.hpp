// Tensor: a cheap-to-copy, immutable handle over contiguous row-major storage.
// No xtensor and no fmt here: <tapeflow/core/xtensor.hpp> converts to and
// from xt::xarray, <tapeflow/core/format.hpp> teaches fmt to print tensors.
#pragma once
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

namespace tapeflow {

/// Element types. Floating tensors are float32 or float64; int64 holds labels and indices.
enum class DType : std::uint8_t { float32, float64, int64 };

/// "float32", "float64" or "int64".
const char* dtype_name(DType dtype);
/// True for float32 and float64.
inline bool is_floating(DType dtype) { return dtype != DType::int64; }

using Shape = std::vector<std::size_t>;

/// "[2, 3]"; used by every error message.
std::string shape_str(const Shape& shape);
/// Number of elements of a shape (1 for rank 0).
std::size_t shape_size(const Shape& shape);
/// NumPy broadcasting of two shapes. @throws ShapeError naming `op`.
Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b);

namespace detail {
struct TensorImpl;
}

/// An immutable n-dimensional array with a dtype. Copies share storage; no op
/// ever writes into a tensor it did not just create. Each tensor has an id
/// that the GradientTape uses to find it again.
class Tensor {
 public:
  /// An undefined tensor (`defined()` is false); only assignable.
  Tensor() = default;
  /// A rank-0 float64 / float32 / int64 tensor.
  Tensor(double value);        // NOLINT: implicit, so `x * 2.0` reads naturally
  Tensor(float value);         // NOLINT
  Tensor(std::int64_t value);  // NOLINT
  Tensor(int value) : Tensor(static_cast<std::int64_t>(value)) {}  // NOLINT
  /// Nested lists: `Tensor{{1, 2}, {3, 4}}` is float32 unless `dtype` says otherwise.
  Tensor(std::initializer_list<double> values, DType dtype = DType::float32);
  Tensor(std::initializer_list<std::initializer_list<double>> values, DType dtype = DType::float32);
  Tensor(std::initializer_list<std::initializer_list<std::initializer_list<double>>> values,
         DType dtype = DType::float32);
  /// From a flat buffer in row-major order. @throws ShapeError if the sizes differ.
  static Tensor from_vector(const std::vector<float>& values, const Shape& shape);
  static Tensor from_vector(const std::vector<double>& values, const Shape& shape);
  static Tensor from_vector(const std::vector<std::int64_t>& values, const Shape& shape);
  /// Copies shape_size(shape) elements from `data`, row-major.
  static Tensor from_data(const float* data, const Shape& shape);
  static Tensor from_data(const double* data, const Shape& shape);
  static Tensor from_data(const std::int64_t* data, const Shape& shape);

  bool defined() const { return impl_ != nullptr; }
  DType dtype() const;
  const Shape& shape() const;
  std::size_t rank() const { return shape().size(); }
  std::size_t size() const;
  /// Process-unique identity, used by the tape.
  std::uint64_t id() const;

  /// Pointer to the first element. @throws DTypeError if T does not match dtype().
  template <class T>
  const T* data() const;
  /// The single element of a size-1 tensor, converted to double.
  /// @throws ShapeError if size() != 1.
  double item() const;
  /// All elements converted to double, row-major.
  std::vector<double> to_vector() const;
  /// NumPy-style text: values (middle elided when large), shape and dtype.
  std::string str() const;

  /// True if both handles share one storage.
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }
  const std::shared_ptr<const detail::TensorImpl>& impl() const { return impl_; }
  explicit Tensor(std::shared_ptr<const detail::TensorImpl> impl) : impl_(std::move(impl)) {}

 private:
  std::shared_ptr<const detail::TensorImpl> impl_;
};

/// Factories. `dtype` defaults to float32 as in TF.
Tensor zeros(const Shape& shape, DType dtype = DType::float32);
Tensor ones(const Shape& shape, DType dtype = DType::float32);
Tensor full(const Shape& shape, double value, DType dtype = DType::float32);
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
/// Same values in another dtype (not recorded on a tape: see ops.hpp `cast`).
Tensor convert(const Tensor& t, DType dtype);

/// A seeded random generator (xoshiro256**, seeded through splitmix64). Equal seeds give equal
/// streams on every machine, because the distributions are computed here, not by the standard
/// library (whose normal_distribution differs between vendors).
class Rng {
 public:
  explicit Rng(std::uint64_t seed = 0);
  void seed(std::uint64_t seed);
  std::uint64_t next_u64();
  /// Uniform in [0, 1).
  double uniform();
  /// Standard normal (Box-Muller).
  double normal();
  /// Uniform integer in [0, n).
  std::uint64_t below(std::uint64_t n);

 private:
  std::uint64_t state_[4];
  bool has_spare_ = false;
  double spare_ = 0.0;
};

/// The generator used when a factory is not given one; `set_seed` reseeds it.
Rng& default_rng();
void set_seed(std::uint64_t seed);

Tensor random_normal(const Shape& shape, double mean = 0.0, double stddev = 1.0,
                     DType dtype = DType::float32, Rng& rng = default_rng());
Tensor random_uniform(const Shape& shape, double minval = 0.0, double maxval = 1.0,
                      DType dtype = DType::float32, Rng& rng = default_rng());
/// Normal samples redrawn until within two standard deviations, as tf.random.truncated_normal.
Tensor truncated_normal(const Shape& shape, double mean = 0.0, double stddev = 1.0,
                        DType dtype = DType::float32, Rng& rng = default_rng());

/// Threads for tapeflow's kernels. Without a call, OpenMP's default applies
/// (OMP_NUM_THREADS, else every core) and BLAS keeps its own setting.
/// A call with n > 0 sets OpenMP's thread count to n and OpenBLAS's to 1:
/// tapeflow then splits large matrix products across its n threads itself,
/// because OpenBLAS's spinning threads beside tapeflow's own slow both down.
/// Both are process-wide settings, which is why only this call makes them.
void set_num_threads(int threads);
/// The threads tapeflow's kernels use.
int num_threads();

/// Prints `t.str()`.
std::ostream& operator<<(std::ostream& os, const Tensor& t);
std::ostream& operator<<(std::ostream& os, DType dtype);

}  // namespace tapeflow
