// Convolution and pooling on oneDNN (float32, NHWC), when the library was
// built with it (TAPEFLOW_HAVE_ONEDNN). ops_conv.cpp calls these and keeps
// im2col + BLAS for float64, for builds without oneDNN and when switched off.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

namespace tapeflow::detail::onednn {

/// Compiled in, and not switched off by set_enabled(false).
bool enabled();
/// Routes float32 convolution and pooling to oneDNN (true, the default when
/// compiled in) or to the portable kernels (false; tests compare the two).
/// Process-wide. Returns the previous setting.
bool set_enabled(bool on);

/// One 2-D window geometry: input NHWC, output [n, oh, ow, *], paddings on
/// each side (bottom/right may be smaller than top/left's share for VALID).
struct Window {
  std::size_t n, h, w, c;  // input
  std::size_t kh, kw, sh, sw;
  std::size_t oh, ow;
  long pad_top, pad_left, pad_bottom, pad_right;
};

/// y[n, oh, ow, o] = conv(x, filters HWIO [kh, kw, c, o]).
void conv_forward(const Window& g, std::size_t o, const float* x, const float* filters, float* y);
/// dx (NHWC, overwritten) from dy and the HWIO filters.
void conv_backward_data(const Window& g, std::size_t o, const float* filters, const float* dy,
                        float* dx);
/// dfilters (HWIO, overwritten) from x and dy.
void conv_backward_weights(const Window& g, std::size_t o, const float* x, const float* dy,
                           float* dfilters);

/// Pooling, NHWC. Max pooling returns its workspace (where each maximum
/// came from), which its backward needs; average pooling divides by the
/// window's real elements (padding excluded) and returns null.
std::shared_ptr<void> pool_forward(const Window& g, bool is_max, const float* x, float* y);
/// dx (overwritten) from dy, with the forward's workspace for max pooling.
void pool_backward(const Window& g, bool is_max, const std::shared_ptr<void>& workspace,
                   const float* dy, float* dx);

}  // namespace tapeflow::detail::onednn
