// TF's clip functions (docs/semantics.md §3); the stage is in stage.cpp.
// Norms are accumulated in double whatever the dtype; scales are applied in
// each tensor's own dtype. The list functions make one pass to compute the
// norm and one fused pass to scale, writing in place when the pipeline owns
// the gradient alone (see detail::unique_data).
#include "tapeflow/clip/clip.hpp"

#include <omp.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "tapeflow/autograd/detail/ops_util.hpp"
#include "tapeflow/clip/detail/kernels.hpp"
#include "tapeflow/core/detail/parallel.hpp"

namespace tapeflow::clip {
using namespace kernels;
namespace {
using detail::Array;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---- sums of squares -----------------------------------------------------

// Sixteen independent double accumulators in a fixed order: the result no
// longer depends on the vector width the compiler picks (an OpenMP simd
// reduction sums in a different order in a NATIVE=1 build), and no add waits
// for the one before. Measured against the simd reduction on this machine:
// no difference in speed (the pass is memory-bound: 22-25 GB/s counted at
// one thread either way, bench BM_ClipByGlobalNorm).
template <class T>
double sum_squares_serial(const T* p, std::size_t n) {
  constexpr std::size_t kLanes = 16;
  double acc[kLanes] = {};
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (std::size_t k = 0; k < kLanes; ++k)
      acc[k] += static_cast<double>(p[i + k]) * static_cast<double>(p[i + k]);
  }
  double total = 0;
  for (; i < n; ++i) total += static_cast<double>(p[i]) * static_cast<double>(p[i]);
  for (double a : acc) total += a;
  return total;
}

template <class T>
double sum_squares(const T* p, std::size_t n) {
  if (n <= detail::kParallelMinElements) return sum_squares_serial(p, n);
  double acc = 0;
#pragma omp parallel reduction(+ : acc)
  {
    const auto t = static_cast<std::size_t>(omp_get_thread_num());
    const auto nt = static_cast<std::size_t>(omp_get_num_threads());
    const std::size_t begin = n * t / nt, end = n * (t + 1) / nt;
    acc += sum_squares_serial(p + begin, end - begin);
  }
  return acc;
}

double sum_squares(const Tensor& t) {
  return detail::dispatch_float("global_norm", t.dtype(), [&](auto tag) {
    return sum_squares(t.data<decltype(tag)>(), t.size());
  });
}

// Multiplies every element of `t` by `scale`, in place when the handle is the
// only owner, else into a new tensor. One pass either way.
template <class T>
void scale_into(const T* src, T* dst, std::size_t n, T scale) {
#pragma omp parallel for simd if (parallel : n > detail::kParallelMinElements) schedule(static)
  for (std::size_t i = 0; i < n; ++i) dst[i] = src[i] * scale;
}

// The same into fresh memory. Large results are written with streaming
// stores (SSE2, part of every x86-64), which bypass the cache: a plain store
// to a line that is not cached reads the line first, a third more memory
// traffic than the in-place pass for a result nobody reads right away (the
// functional clip_by_global_norm went from 13-17 to 15-22 GB/s at one thread
// and from 27 to 31-34 at two, BM_ClipByGlobalNormFunctional). Written by hand: no library offers
// it, and OpenMP's nontemporal clause is ignored by GCC 12. The products are the same IEEE
// multiplications as scale_into's, so the values are bit-identical.
template <class T>
void scale_to_new(const T* src, T* dst, std::size_t n, T scale) {
#if defined(__SSE2__)
  if (n * sizeof(T) >= (std::size_t{4} << 20)) {
#pragma omp parallel if (n > detail::kParallelMinElements)
    {
      const auto t = static_cast<std::size_t>(omp_get_thread_num());
      const auto nt = static_cast<std::size_t>(omp_get_num_threads());
      std::size_t i = n * t / nt;
      const std::size_t end = n * (t + 1) / nt;
      for (; i < end && reinterpret_cast<std::uintptr_t>(dst + i) % 16 != 0; ++i)
        dst[i] = src[i] * scale;
      if constexpr (std::is_same_v<T, float>) {
        const __m128 s = _mm_set1_ps(scale);
        for (; i + 4 <= end; i += 4) _mm_stream_ps(dst + i, _mm_mul_ps(_mm_loadu_ps(src + i), s));
      } else {
        const __m128d s = _mm_set1_pd(scale);
        for (; i + 2 <= end; i += 2) _mm_stream_pd(dst + i, _mm_mul_pd(_mm_loadu_pd(src + i), s));
      }
      for (; i < end; ++i) dst[i] = src[i] * scale;
      _mm_sfence();  // streaming stores are weakly ordered: publish them before returning
    }
    return;
  }
#endif
  scale_into(src, dst, n, scale);
}

Tensor scaled(Tensor t, double scale) {
  return detail::dispatch_float("clip", t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (T* p = detail::unique_data<T>(t)) {
      scale_into<T>(p, p, t.size(), static_cast<T>(scale));
      return t;
    }
    auto out = Array<T>::from_shape(detail::xshape(t.shape()));
    scale_to_new<T>(t.data<T>(), out.data(), t.size(), static_cast<T>(scale));
    return detail::make_tensor(std::move(out));
  });
}

// ---- per-slice norms for clip_by_norm --------------------------------------

// Walks a tensor in row-major order and tells, for each element, which slice
// it belongs to, where a slice is everything that differs only along `axes`.
// An odometer with per-axis slice strides (0 on reduced axes), so no index
// vector as large as the tensor is ever built.
struct Slices {
  std::size_t count = 1;
  Shape shape;
  std::vector<std::size_t> kstride;  // slice stride per axis (0 on reduced axes)

  Slices(const Shape& s, const std::vector<std::size_t>& axes) : shape(s), kstride(s.size(), 0) {
    std::size_t stride = 1;
    for (std::size_t d = s.size(); d-- > 0;) {
      if (std::find(axes.begin(), axes.end(), d) == axes.end()) {
        kstride[d] = stride;
        stride *= s[d];
      }
    }
    count = stride;
  }

  template <class F>
  void for_each(std::size_t n, F&& f) const {
    if (count == 1) {
      for (std::size_t i = 0; i < n; ++i) f(i, 0);
      return;
    }
    std::vector<std::size_t> idx(shape.size(), 0);
    std::size_t slice = 0;
    for (std::size_t i = 0; i < n; ++i) {
      f(i, slice);
      for (std::size_t d = shape.size(); d-- > 0;) {
        if (++idx[d] < shape[d]) {
          slice += kstride[d];
          break;
        }
        slice -= kstride[d] * (shape[d] - 1);
        idx[d] = 0;
      }
    }
  }
};

struct NormResult {
  Tensor out;
  bool changed = false;
};

// out = t * clip_norm / max(n, clip_norm) per slice, n = sqrt(sum t^2) (0 when the sum is 0).
NormResult clip_norm_kernel(const char* op, const Tensor& t, double clip_norm, const Axes& axes) {
  check_clip_norm(op, clip_norm);
  const auto ax = detail::normalize_axes(op, axes, t.rank());
  if (std::isinf(clip_norm) || t.size() == 0) return {t, false};  // [ours] +inf means no clipping
  const Slices slices(t.shape(), ax);
  return detail::dispatch_float(op, t.dtype(), [&](auto tag) -> NormResult {
    using T = decltype(tag);
    const T* p = t.data<T>();
    std::vector<double> ss(slices.count, 0.0);
    if (slices.count == 1) {
      ss[0] = sum_squares(p, t.size());
    } else {
      slices.for_each(t.size(), [&](std::size_t i, std::size_t s) {
        ss[s] += static_cast<double>(p[i]) * static_cast<double>(p[i]);
      });
    }
    std::vector<double> scale(slices.count);
    bool changed = false;
    for (std::size_t s = 0; s < slices.count; ++s) {
      const double n = std::isnan(ss[s]) ? kNaN : ss[s] > 0 ? std::sqrt(ss[s]) : 0.0;
      scale[s] = std::isnan(n) ? kNaN : (n > clip_norm ? clip_norm / n : 1.0);
      changed = changed || !(scale[s] == 1.0);
    }
    if (!changed) return {t, false};
    auto out = Array<T>::from_shape(detail::xshape(t.shape()));
    slices.for_each(t.size(), [&](std::size_t i, std::size_t s) {
      out.data()[i] = p[i] * static_cast<T>(scale[s]);
    });
    return {detail::make_tensor(std::move(out)), true};
  });
}

// Gradient of clip_by_norm per slice: where n >= clip_norm and n > 0 (a tie
// counts as clipped: max() sends a tie to its first input, the norm),
// (c/n) (g - (g.t) t / n^2); elsewhere g. Zero slices keep g (no NaN).
Tensor clip_norm_backward(const Tensor& t, const Tensor& g, double clip_norm,
                          const std::vector<std::size_t>& ax) {
  const Slices slices(t.shape(), ax);
  return detail::dispatch_float("clip_by_norm", t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = t.data<T>();
    const T* gp = g.data<T>();
    std::vector<double> ss(slices.count, 0.0), dot(slices.count, 0.0);
    slices.for_each(t.size(), [&](std::size_t i, std::size_t s) {
      ss[s] += static_cast<double>(p[i]) * p[i];
      dot[s] += static_cast<double>(gp[i]) * p[i];
    });
    auto out = Array<T>::from_shape(detail::xshape(t.shape()));
    slices.for_each(t.size(), [&](std::size_t i, std::size_t s) {
      const double n = std::sqrt(ss[s]);
      if (ss[s] > 0 && n >= clip_norm) {
        out.data()[i] = static_cast<T>(clip_norm / n * (gp[i] - dot[s] * p[i] / ss[s]));
      } else {
        out.data()[i] = gp[i];
      }
    });
    return detail::make_tensor(std::move(out));
  });
}

// ---- clip_by_value kernel --------------------------------------------------

void check_tensor_bounds(const Tensor& t, const Tensor& lo, const Tensor& hi) {
  const char* op = "clip_by_value";
  detail::require_float(op, t);
  for (const Tensor* b : {&lo, &hi}) {
    if (b->dtype() != t.dtype()) {
      throw DTypeError(fmt::format("{}: bounds must have t's dtype {}, got {}", op,
                                   dtype_name(t.dtype()), dtype_name(b->dtype())));
    }
    const Shape s = broadcast_shapes(op, t.shape(), b->shape());
    if (s != t.shape()) {
      throw InvalidArgumentError(fmt::format(
          "{}: a bound of shape {} would broadcast t of shape {} to {}; bounds must broadcast to "
          "t's shape",
          op, shape_str(b->shape()), shape_str(t.shape()), shape_str(s)));
    }
  }
  if (lo.size() == 0 || hi.size() == 0) return;  // nothing to compare (and see clip_value_kernel)
  detail::dispatch_float(op, t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const auto& l = detail::arr<T>(lo);
    const auto& h = detail::arr<T>(hi);
    if (xt::any(xt::isnan(l)) || xt::any(xt::isnan(h))) {
      throw InvalidArgumentError(fmt::format("{}: clip_value bounds must not be NaN", op));
    }
    if (xt::any(l > h)) {
      throw InvalidArgumentError(fmt::format(
          "{}: clip_value_min must be <= clip_value_max everywhere, but some clip_value_min > "
          "clip_value_max",
          op));
    }
  });
}

// max(min(t, hi), lo), written with comparisons so that NaN in t stays NaN.
NormResult clip_value_kernel(const Tensor& t, const Tensor& lo, const Tensor& hi) {
  // An empty tensor is returned as is: xtensor's reducers form a pointer
  // offset from the null data pointer of an empty array (UBSan).
  if (t.size() == 0) return {t, false};
  return detail::dispatch_float("clip_by_value", t.dtype(), [&](auto tag) -> NormResult {
    using T = decltype(tag);
    const auto& a = detail::arr<T>(t);
    const auto& l = detail::arr<T>(lo);
    const auto& h = detail::arr<T>(hi);
    if (!xt::any(a > h || a < l)) return {t, false};
    return {detail::make_tensor(Array<T>(xt::where(a > h, h, xt::where(a < l, l, a)))), true};
  });
}

Tensor record_clip_value(Tensor out, const Tensor& t, const Tensor& lo, const Tensor& hi) {
  return detail::record("clip_by_value", std::move(out), {t, lo, hi}, [](const BackwardArgs& s) {
    const Tensor& x = s.in[0];
    const Tensor& l = s.in[1];
    const Tensor& h = s.in[2];
    return detail::dispatch_float("clip_by_value", x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const auto& a = detail::arr<T>(x);
      const auto& lv = detail::arr<T>(l);
      const auto& hv = detail::arr<T>(h);
      const auto& g = detail::arr<T>(s.grad);
      Tensor gx = detail::make_tensor(Array<T>(xt::where(a >= lv && a <= hv, g, T(0))));
      Tensor gl = detail::make_tensor(Array<T>(xt::where(a < lv, g, T(0))));
      Tensor gh = detail::make_tensor(Array<T>(xt::where(a > hv, g, T(0))));
      return std::vector<Gradient>{gx, detail::unbroadcast(gl, l.shape()),
                                   detail::unbroadcast(gh, h.shape())};
    });
  });
}

}  // namespace

namespace kernels {

// ---- argument checks -----------------------------------------------------

void check_clip_norm(const char* op, double clip_norm) {
  if (!(clip_norm > 0)) {
    throw InvalidArgumentError(
        fmt::format("{}: clip_norm must be a positive number, got {}", op, clip_norm));
  }
}

void check_bounds(const char* op, double lo, double hi) {
  if (std::isnan(lo) || std::isnan(hi)) {
    throw InvalidArgumentError(
        fmt::format("{}: clip_value bounds must not be NaN, got [{}, {}]", op, lo, hi));
  }
  if (lo > hi) {
    throw InvalidArgumentError(fmt::format(
        "{}: clip_value_min must be <= clip_value_max, got clip_value_min {} > clip_value_max {}",
        op, lo, hi));
  }
}

Gradient value_clip(const Gradient& g, double lo, double hi, bool& changed) {
  const Tensor& v = g.values();
  auto r = clip_value_kernel(v, scalar_like(lo, v), scalar_like(hi, v));
  changed = r.changed;
  return r.changed ? g.with_values(r.out) : g;
}

Gradient norm_clip(const Gradient& g, double clip_norm, const Axes& axes, bool& changed) {
  auto r = clip_norm_kernel("clip_by_norm", g.values(), clip_norm, axes);
  changed = r.changed;
  return r.changed ? g.with_values(r.out) : g;
}

Gradient average_norm_clip(const Gradient& g, double clip_norm, bool& changed) {
  check_clip_norm("clip_by_average_norm", clip_norm);
  Tensor dense = g.to_dense();
  if (dense.size() == 0) return Gradient(dense);
  // clip_norm * min(N/n, 1/clip_norm) == clip_by_norm with limit clip_norm * N.
  auto r = clip_norm_kernel("clip_by_average_norm", dense,
                            clip_norm * static_cast<double>(dense.size()), std::nullopt);
  changed = r.changed || g.is_sparse();
  return Gradient(r.out);
}

DType norm_dtype(const std::vector<const Tensor*>& ts) {
  for (const Tensor* t : ts) {
    if (t->dtype() == DType::float64) return DType::float64;
  }
  return DType::float32;
}

double global_norm_value(const std::vector<const Tensor*>& ts) {
  double acc = 0;
  for (const Tensor* t : ts) acc += sum_squares(*t);
  return std::sqrt(acc);
}

// Shared by both list overloads: scales every present entry by one factor.
double global_scale(double norm, double clip_norm) {
  if (!std::isfinite(norm)) return kNaN;  // TF since PR 27733: NaN everywhere
  if (std::isinf(clip_norm)) return 1.0;  // [ours] +inf means no clipping
  return norm > clip_norm ? clip_norm / norm : 1.0;
}

double use_norm_value(const std::optional<Tensor>& use_norm) {
  const double u = use_norm->item();
  if (u < 0) {
    throw InvalidArgumentError(
        fmt::format("clip_by_global_norm: use_norm must be >= 0, got {}", u));
  }
  return u;
}

// Scales a list the pipeline owns, in place where it can.
std::vector<Gradient> scale_list(std::vector<Gradient> list, double scale) {
  if (scale == 1.0) return list;
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (list[i].is_none()) continue;
    Tensor values = list[i].values();
    list[i] = list[i].with_values(Tensor());  // drop our second handle so `values` may be unique
    list[i] = list[i].with_values(scaled(std::move(values), scale));
  }
  return list;
}

std::vector<const Tensor*> present(const std::vector<Gradient>& list) {
  std::vector<const Tensor*> out;
  for (const auto& g : list) {
    if (!g.is_none()) out.push_back(&g.values());
  }
  return out;
}

}  // namespace kernels

// ---- public functions ------------------------------------------------------

Tensor clip_by_value(const Tensor& t, const Tensor& lo, const Tensor& hi) {
  check_tensor_bounds(t, lo, hi);
  auto r = clip_value_kernel(t, lo, hi);
  // Always a new tensor, so that a recorded clip has its own tape entry.
  Tensor out = r.changed ? r.out : stop_gradient(t);
  return record_clip_value(std::move(out), t, lo, hi);
}

Tensor clip_by_value(const Tensor& t, double lo, double hi) {
  check_bounds("clip_by_value", lo, hi);
  detail::require_float("clip_by_value", t);
  return clip_by_value(t, scalar_like(lo, t), scalar_like(hi, t));
}

IndexedSlices clip_by_value(const IndexedSlices& t, double lo, double hi) {
  check_bounds("clip_by_value", lo, hi);
  bool changed = false;
  return value_clip(Gradient(t), lo, hi, changed).sparse();
}

IndexedSlices clip_by_value(const IndexedSlices& t, const Tensor& lo, const Tensor& hi) {
  // Bounds broadcast to the values' shape, as TF converts the slices' values.
  check_tensor_bounds(t.values, lo, hi);
  auto r = clip_value_kernel(t.values, lo, hi);
  return r.changed ? IndexedSlices{r.out, t.indices, t.dense_shape} : t;
}

Gradient clip_by_value(const Gradient& g, double lo, double hi) {
  if (g.is_none()) return g;
  if (g.is_sparse()) return clip_by_value(g.sparse(), lo, hi);
  return clip_by_value(g.dense(), lo, hi);
}

Gradient clip_by_value(const Gradient& g, const Tensor& lo, const Tensor& hi) {
  if (g.is_none()) return g;
  if (g.is_sparse()) return clip_by_value(g.sparse(), lo, hi);
  return clip_by_value(g.dense(), lo, hi);
}

Tensor clip_by_norm(const Tensor& t, double clip_norm, const Axes& axes) {
  detail::require_float("clip_by_norm", t);
  auto r = clip_norm_kernel("clip_by_norm", t, clip_norm, axes);
  if (std::isinf(clip_norm)) return t;
  Tensor out = r.changed ? r.out : stop_gradient(t);
  const auto ax = detail::normalize_axes("clip_by_norm", axes, t.rank());
  return detail::record(
      "clip_by_norm", std::move(out), {t}, [clip_norm, ax](const BackwardArgs& s) {
        return std::vector<Gradient>{clip_norm_backward(s.in[0], s.grad, clip_norm, ax)};
      });
}

IndexedSlices clip_by_norm(const IndexedSlices& t, double clip_norm, const Axes& axes) {
  bool changed = false;
  return norm_clip(Gradient(t), clip_norm, axes, changed).sparse();
}

Gradient clip_by_norm(const Gradient& g, double clip_norm, const Axes& axes) {
  if (g.is_none()) return g;
  if (g.is_sparse()) return clip_by_norm(g.sparse(), clip_norm, axes);
  return clip_by_norm(g.dense(), clip_norm, axes);
}

Tensor clip_by_average_norm(const Tensor& t, double clip_norm) {
  check_clip_norm("clip_by_average_norm", clip_norm);
  if (t.size() == 0) return t;
  return clip_by_norm(t, clip_norm * static_cast<double>(t.size()));
}

Tensor clip_by_average_norm(const IndexedSlices& t, double clip_norm) {
  return clip_by_average_norm(t.to_dense(), clip_norm);
}

Gradient clip_by_average_norm(const Gradient& g, double clip_norm) {
  if (g.is_none()) return g;
  if (g.is_sparse()) return clip_by_average_norm(g.sparse(), clip_norm);
  return clip_by_average_norm(g.dense(), clip_norm);
}

Tensor global_norm(const std::vector<Gradient>& t_list) {
  const auto ts = present(t_list);
  return full({}, global_norm_value(ts), norm_dtype(ts));
}

Tensor global_norm(const std::vector<Tensor>& t_list) {
  std::vector<const Tensor*> ts;
  for (const auto& t : t_list) {
    if (t.defined()) ts.push_back(&t);
  }
  return full({}, global_norm_value(ts), norm_dtype(ts));
}

std::pair<std::vector<Gradient>, Tensor> clip_by_global_norm(
    const std::vector<Gradient>& t_list, double clip_norm, const std::optional<Tensor>& use_norm) {
  check_clip_norm("clip_by_global_norm", clip_norm);
  const auto ts = present(t_list);
  // The scale comes from the norm in double, not from the returned tensor
  // (float32 for float32 lists): the stage's by_global_norm does the same.
  const double n = use_norm ? use_norm_value(use_norm) : global_norm_value(ts);
  Tensor norm = use_norm ? *use_norm : full({}, n, norm_dtype(ts));
  return {scale_list(t_list, global_scale(n, clip_norm)), norm};
}

std::pair<std::vector<Tensor>, Tensor> clip_by_global_norm(const std::vector<Tensor>& t_list,
                                                           double clip_norm,
                                                           const std::optional<Tensor>& use_norm) {
  std::vector<Gradient> gs;
  for (const auto& t : t_list) gs.push_back(t.defined() ? Gradient(t) : Gradient());
  auto [clipped, norm] = clip_by_global_norm(gs, clip_norm, use_norm);
  std::vector<Tensor> out;
  for (const auto& g : clipped) out.push_back(g.is_none() ? Tensor() : g.dense());
  return {std::move(out), norm};
}

}  // namespace tapeflow::clip
