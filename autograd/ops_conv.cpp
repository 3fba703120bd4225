// conv2d, max/avg pooling, dropout and flatten, NHWC. float32 convolution
// and pooling run on oneDNN when the library has it (autograd/onednn.cpp);
// float64, builds without oneDNN, and onednn::set_enabled(false) use the
// portable kernels here (im2col + BLAS; a window walk for pooling).
#include <cmath>
#include <limits>
#include <optional>
#include <type_traits>

#include "tapeflow/autograd/detail/onednn.hpp"
#include "tapeflow/autograd/detail/ops_util.hpp"
#include "tapeflow/core/detail/blas.hpp"

namespace tapeflow {
using detail::Array;
namespace onednn = detail::onednn;

namespace {
struct Geometry {
  std::size_t n, h, w, c;      // input
  std::size_t kh, kw, sh, sw;  // window and strides
  std::size_t oh, ow;          // output
  long pad_top, pad_left;
};

std::pair<std::size_t, long> out_size(const char* op, std::size_t in, std::size_t k, std::size_t s,
                                      Padding p) {
  if (p == Padding::same) {
    const std::size_t out = (in + s - 1) / s;
    const long total =
        std::max<long>(static_cast<long>((out - 1) * s + k) - static_cast<long>(in), 0);
    return {out, total / 2};
  }
  if (in < k) {
    throw ShapeError(fmt::format(
        "{}: a window of {} does not fit an input of size {} with VALID padding", op, k, in));
  }
  return {(in - k) / s + 1, 0};
}

std::pair<std::size_t, std::size_t> pair_of(const char* op, const char* what,
                                            const std::vector<int>& v) {
  if (v.size() != 2 || v[0] <= 0 || v[1] <= 0) {
    throw InvalidArgumentError(fmt::format("{}: {} must be two positive numbers {{h, w}}, got [{}]",
                                           op, what, fmt::join(v, ", ")));
  }
  return {static_cast<std::size_t>(v[0]), static_cast<std::size_t>(v[1])};
}

Geometry geometry(const char* op, const Tensor& x, std::size_t kh, std::size_t kw,
                  const std::vector<int>& strides, Padding p) {
  if (x.rank() != 4) {
    throw ShapeError(
        fmt::format("{}: input must be NHWC (rank 4), got shape {}", op, shape_str(x.shape())));
  }
  const auto [sh, sw] = pair_of(op, "strides", strides);
  Geometry g{x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3], kh, kw, sh, sw, 0, 0, 0, 0};
  std::tie(g.oh, g.pad_top) = out_size(op, g.h, kh, sh, p);
  std::tie(g.ow, g.pad_left) = out_size(op, g.w, kw, sw, p);
  return g;
}

// oneDNN's description of the same geometry.
onednn::Window to_window(const Geometry& g) {
  // Bottom/right padding: what SAME adds after the top/left share; never
  // negative (VALID may leave input rows unread).
  const long pb = std::max<long>(
      static_cast<long>((g.oh - 1) * g.sh + g.kh) - static_cast<long>(g.h) - g.pad_top, 0);
  const long pr = std::max<long>(
      static_cast<long>((g.ow - 1) * g.sw + g.kw) - static_cast<long>(g.w) - g.pad_left, 0);
  return onednn::Window{g.n,  g.h,  g.w,  g.c,       g.kh,       g.kw, g.sh,
                        g.sw, g.oh, g.ow, g.pad_top, g.pad_left, pb,   pr};
}

// The geometry for oneDNN, or nullopt when oneDNN is off or the type is not
// float32 (oneDNN has no float64 convolution on CPUs).
template <class T>
std::optional<onednn::Window> onednn_window(const Geometry& g) {
  if (!std::is_same_v<T, float> || !onednn::enabled()) return std::nullopt;
  if (g.n == 0 || g.h == 0 || g.w == 0 || g.c == 0) return std::nullopt;
  return to_window(g);
}

// The one walk over windows that im2col, col2im and pooling share: for output
// pixel `row` (n, oy, ox flattened; also the row of the im2col matrix
// [N*OH*OW, KH*KW*C]), calls f(tap, input_offset) for every kernel tap, where
// tap = ky*KW + kx and input_offset is the tap's first channel in the NHWC
// input, or -1 where the tap falls in the padding.
template <class F>
void for_each_tap(const Geometry& g, std::size_t row, F&& f) {
  const std::size_t n = row / (g.oh * g.ow);
  const std::size_t oy = (row / g.ow) % g.oh;
  const std::size_t ox = row % g.ow;
  for (std::size_t ky = 0; ky < g.kh; ++ky) {
    const long iy = static_cast<long>(oy * g.sh + ky) - g.pad_top;
    for (std::size_t kx = 0; kx < g.kw; ++kx) {
      const long ix = static_cast<long>(ox * g.sw + kx) - g.pad_left;
      const bool inside =
          iy >= 0 && iy < static_cast<long>(g.h) && ix >= 0 && ix < static_cast<long>(g.w);
      f(ky * g.kw + kx, inside ? static_cast<long>(((n * g.h + iy) * g.w + ix) * g.c) : -1L);
    }
  }
}

// Scratch buffers reused across calls (per thread): im2col matrices are the
// largest temporaries of a CNN step, and allocating them afresh each time
// costs page faults and zeroing for nothing.
template <class T>
T* scratch(int which, std::size_t n) {
  thread_local std::vector<T> buffers[2];
  if (buffers[which].size() < n) buffers[which].resize(n);
  return buffers[which].data();
}

template <class T>
T* im2col(const Geometry& g, const T* x) {
  const std::size_t k = g.kh * g.kw * g.c;
  T* cols = scratch<T>(0, g.n * g.oh * g.ow * k);
#pragma omp parallel for schedule(static) if (g.n * g.oh * g.ow > 4096)
  for (std::size_t row = 0; row < g.n * g.oh * g.ow; ++row) {
    for_each_tap(g, row, [&](std::size_t tap, long off) {
      // Plain loops, not std::copy: runs are only C floats long (1 for the
      // first layer), where a memmove call per tap cost more than the copy.
      T* dst = cols + row * k + tap * g.c;
      if (off < 0) {
        for (std::size_t c = 0; c < g.c; ++c) dst[c] = T(0);
      } else {
        const T* src = x + off;
        for (std::size_t c = 0; c < g.c; ++c) dst[c] = src[c];
      }
    });
  }
  return cols;
}
}  // namespace

// y = im2col(x) · W, with W viewed as [KH*KW*C, O]. Backward:
// dW = im2col(x)ᵀ · g and dx = col2im(g · Wᵀ) (the scatter-add of im2col's adjoint).
Tensor conv2d(const Tensor& input, const Tensor& filters, const std::vector<int>& strides,
              Padding padding) {
  const char* op = "conv2d";
  detail::require_same_dtype(op, input, filters);
  if (filters.rank() != 4) {
    throw ShapeError(fmt::format("conv2d: filters must be HWIO (rank 4), got shape {}",
                                 shape_str(filters.shape())));
  }
  const Shape& fs = filters.shape();
  const Geometry g = geometry(op, input, fs[0], fs[1], strides, padding);
  if (fs[2] != g.c) {
    throw ShapeError(
        fmt::format("conv2d: input has {} channels but filters expect {}: input {}, filters {}",
                    g.c, fs[2], shape_str(input.shape()), shape_str(fs)));
  }
  const std::size_t o = fs[3];
  Tensor out = detail::dispatch_float(op, input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto y = Array<T>::from_shape({g.n, g.oh, g.ow, o});
    if (const auto win = onednn_window<T>(g)) {
      if constexpr (std::is_same_v<T, float>)
        onednn::conv_forward(*win, o, input.data<float>(), filters.data<float>(), y.data());
      return detail::make_tensor(std::move(y));
    }
    const T* cols = im2col(g, input.data<T>());
    detail::gemm(false, false, g.n * g.oh * g.ow, o, g.kh * g.kw * g.c, cols, filters.data<T>(),
                 y.data());
    return detail::make_tensor(std::move(y));
  });
  return detail::record(op, std::move(out), {input, filters}, [g, o](const BackwardArgs& s) {
    return detail::dispatch_float("conv2d", s.grad.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const std::size_t rows = g.n * g.oh * g.ow, k = g.kh * g.kw * g.c;
      std::vector<Gradient> grads(2);
      if (const auto win = onednn_window<T>(g)) {
        if constexpr (std::is_same_v<T, float>) {
          if (s.needed[1]) {
            auto dw = Array<float>::from_shape(detail::xshape(s.in[1].shape()));
            onednn::conv_backward_weights(*win, o, s.in[0].data<float>(), s.grad.data<float>(),
                                          dw.data());
            grads[1] = detail::make_tensor(std::move(dw));
          }
          if (s.needed[0]) {
            auto dx = Array<float>::from_shape(detail::xshape(s.in[0].shape()));
            onednn::conv_backward_data(*win, o, s.in[1].data<float>(), s.grad.data<float>(),
                                       dx.data());
            grads[0] = detail::make_tensor(std::move(dx));
          }
        }
        return grads;
      }
      if (s.needed[1]) {
        const T* cols = im2col(g, s.in[0].data<T>());
        auto dw = Array<T>::from_shape(detail::xshape(s.in[1].shape()));
        detail::gemm(true, false, k, o, rows, cols, s.grad.data<T>(), dw.data());
        grads[1] = detail::make_tensor(std::move(dw));
      }
      if (!s.needed[0]) return grads;  // e.g. the first layer: nobody wants d(images)
      T* dcols = scratch<T>(1, rows * k);
      detail::gemm(false, true, rows, k, o, s.grad.data<T>(), s.in[1].data<T>(), dcols);
      auto dx = Array<T>::from_shape(detail::xshape(s.in[0].shape()));
      dx.fill(T(0));
      // col2im: taps of neighbouring outputs add into the same input pixel, so
      // threads split by image, whose pixels no other image touches.
      const std::size_t per_image = g.oh * g.ow;
#pragma omp parallel for schedule(static) if (g.n > 1 && rows * k > (1u << 16))
      for (std::size_t n = 0; n < g.n; ++n) {
        for (std::size_t row = n * per_image; row < (n + 1) * per_image; ++row) {
          for_each_tap(g, row, [&](std::size_t tap, long off) {
            if (off < 0) return;
            T* dst = dx.data() + off;
            const T* src = dcols + row * k + tap * g.c;
            for (std::size_t c = 0; c < g.c; ++c) dst[c] += src[c];
          });
        }
      }
      grads[0] = detail::make_tensor(std::move(dx));
      return grads;
    });
  });
}

namespace {
// Visits each output element's window: f(out_index, offsets of its real (unpadded) input pixels).
template <class F>
void for_each_window(const Geometry& g, F&& f) {
  std::vector<std::size_t> offs;
  offs.reserve(g.kh * g.kw);
  for (std::size_t row = 0; row < g.n * g.oh * g.ow; ++row) {
    offs.clear();
    for_each_tap(g, row, [&](std::size_t, long off) {
      if (off >= 0) offs.push_back(static_cast<std::size_t>(off));
    });
    f(row * g.c, offs);
  }
}

Tensor pool(const char* op, const Tensor& x, const std::vector<int>& ksize,
            const std::vector<int>& strides, Padding padding, bool is_max) {
  const auto [kh, kw] = pair_of(op, "ksize", ksize);
  const Geometry g = geometry(op, x, kh, kw, strides, padding);
  std::shared_ptr<void> workspace;  // oneDNN's record of where each maximum was
  bool on_onednn = false;
  Tensor out = detail::dispatch_float(op, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* in = x.data<T>();
    auto y = Array<T>::from_shape({g.n, g.oh, g.ow, g.c});
    if (const auto win = onednn_window<T>(g)) {
      if constexpr (std::is_same_v<T, float>)
        workspace = onednn::pool_forward(*win, is_max, in, y.data());
      on_onednn = true;
      return detail::make_tensor(std::move(y));
    }
    for_each_window(g, [&](std::size_t o, const std::vector<std::size_t>& offs) {
      for (std::size_t c = 0; c < g.c; ++c) {
        T acc = is_max ? -std::numeric_limits<T>::infinity() : T(0);
        for (std::size_t off : offs) acc = is_max ? std::max(acc, in[off + c]) : acc + in[off + c];
        y.data()[o + c] = is_max ? acc : acc / static_cast<T>(offs.size());
      }
    });
    return detail::make_tensor(std::move(y));
  });
  auto rule = [g, is_max, on_onednn, workspace](const BackwardArgs& s) {
    return std::vector<Gradient>{detail::dispatch_float("pool", s.grad.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* in = s.in[0].data<T>();
      const T* gy = s.grad.data<T>();
      auto dx = Array<T>::from_shape(detail::xshape(s.in[0].shape()));
      if (on_onednn) {
        if constexpr (std::is_same_v<T, float>)
          onednn::pool_backward(to_window(g), is_max, workspace, gy, dx.data());
        return detail::make_tensor(std::move(dx));
      }
      dx.fill(T(0));
      for_each_window(g, [&](std::size_t o, const std::vector<std::size_t>& offs) {
        for (std::size_t c = 0; c < g.c; ++c) {
          if (is_max) {  // to the first maximum of the window
            std::size_t best = offs[0];
            for (std::size_t off : offs) {
              if (in[off + c] > in[best + c]) best = off;
            }
            dx.data()[best + c] += gy[o + c];
          } else {
            for (std::size_t off : offs)
              dx.data()[off + c] += gy[o + c] / static_cast<T>(offs.size());
          }
        }
      });
      return detail::make_tensor(std::move(dx));
    })};
  };
  return detail::record(op, std::move(out), {x}, std::move(rule));
}
}  // namespace

Tensor max_pool2d(const Tensor& x, const std::vector<int>& ksize, const std::vector<int>& strides,
                  Padding p) {
  return pool("max_pool2d", x, ksize, strides, p, true);
}

Tensor avg_pool2d(const Tensor& x, const std::vector<int>& ksize, const std::vector<int>& strides,
                  Padding p) {
  return pool("avg_pool2d", x, ksize, strides, p, false);
}

// x * mask, mask = (u >= rate) / (1 - rate): recorded as a mul by a constant,
// so the gradient is g * mask.
Tensor dropout(const Tensor& x, double rate, Rng& rng) {
  if (!(rate >= 0 && rate < 1)) {
    throw InvalidArgumentError(fmt::format("dropout: rate must be in [0, 1), got {}", rate));
  }
  if (rate == 0) return x;
  const Tensor mask = detail::dispatch_float("dropout", x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto m = Array<T>::from_shape(detail::xshape(x.shape()));
    const T keep = static_cast<T>(1 / (1 - rate));
    for (auto& v : m) v = rng.uniform() >= rate ? keep : T(0);
    return detail::make_tensor(std::move(m));
  });
  return mul(x, mask);
}

Tensor flatten(const Tensor& x) {
  if (x.rank() == 0) throw ShapeError("flatten: expected a batch of rank >= 1, got a scalar");
  return reshape(x, {static_cast<long>(x.shape()[0]), -1});
}

}  // namespace tapeflow
