// oneDNN's convolution and pooling primitives behind autograd/detail/onednn.hpp.
//
// Activations stay NHWC, tapeflow's layout, so oneDNN reads and writes our
// tensors in place. Filters stay HWIO in the variables (what checkpoints and
// users see); each call reorders them into the blocked layout oneDNN picks
// for the shape (format_tag::any), because its convolutions from plain
// weight layouts take a slow reference path (8-10x slower for conv2 of the
// MNIST CNN). Filters are small, so the reorder costs microseconds.
//
// Primitives are created once per geometry and kept per thread (creating a
// primitive descriptor selects and JIT-compiles a kernel: far too slow per call).
#include "tapeflow/autograd/detail/onednn.hpp"

#include <array>
#include <atomic>
#include <map>
#include <oneapi/dnnl/dnnl.hpp>
#include <optional>
#include <unordered_map>

namespace tapeflow::detail::onednn {
namespace {
using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

std::atomic<bool> g_enabled{true};

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::stream& stream() {
  thread_local dnnl::stream s(engine());
  return s;
}

memory::dim d(std::size_t v) { return static_cast<memory::dim>(v); }
memory::dim d(long v) { return static_cast<memory::dim>(v); }

memory::desc nhwc(std::size_t n, std::size_t c, std::size_t h, std::size_t w) {
  return memory::desc({d(n), d(c), d(h), d(w)}, dt::f32, tag::nhwc);
}

memory::dims strides(const Window& g) { return {d(g.sh), d(g.sw)}; }
memory::dims pad_l(const Window& g) { return {d(g.pad_top), d(g.pad_left)}; }
memory::dims pad_r(const Window& g) { return {d(g.pad_bottom), d(g.pad_right)}; }

using Key = std::array<long, 16>;
Key key_of(const Window& g, std::size_t o, long kind) {
  return {kind,
          static_cast<long>(g.n),
          static_cast<long>(g.h),
          static_cast<long>(g.w),
          static_cast<long>(g.c),
          static_cast<long>(g.kh),
          static_cast<long>(g.kw),
          static_cast<long>(g.sh),
          static_cast<long>(g.sw),
          static_cast<long>(g.oh),
          static_cast<long>(g.ow),
          g.pad_top,
          g.pad_left,
          g.pad_bottom,
          g.pad_right,
          static_cast<long>(o)};
}

// Everything one convolution geometry needs, built on first use.
struct Conv {
  memory::desc src, dst, hwio;
  dnnl::convolution_forward::primitive_desc fwd_pd;
  dnnl::convolution_forward fwd;
  memory fwd_weights;  // filters in fwd_pd's layout
  std::optional<dnnl::reorder> to_fwd;
  // backward data and weights: created when first needed
  std::optional<dnnl::convolution_backward_data::primitive_desc> bwd_data_pd;
  std::optional<dnnl::convolution_backward_data> bwd_data;
  memory bwd_data_weights;
  std::optional<dnnl::reorder> to_bwd_data;
  std::optional<dnnl::convolution_backward_weights::primitive_desc> bwd_weights_pd;
  std::optional<dnnl::convolution_backward_weights> bwd_weights;
  memory bwd_diff_weights;
  std::optional<dnnl::reorder> from_bwd_weights;

  Conv(const Window& g, std::size_t o)
      : src(nhwc(g.n, g.c, g.h, g.w)),
        dst(nhwc(g.n, o, g.oh, g.ow)),
        hwio({d(o), d(g.c), d(g.kh), d(g.kw)}, dt::f32, tag::hwio),
        fwd_pd(dnnl::convolution_forward::desc(
                   dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, src,
                   memory::desc({d(o), d(g.c), d(g.kh), d(g.kw)}, dt::f32, tag::any), dst,
                   strides(g), pad_l(g), pad_r(g)),
               engine()),
        fwd(fwd_pd) {
    if (fwd_pd.weights_desc() != hwio) {
      fwd_weights = memory(fwd_pd.weights_desc(), engine());
      to_fwd.emplace(memory(hwio, engine(), nullptr), fwd_weights);
    }
  }

  dnnl::convolution_backward_data& backward_data(const Window& g, std::size_t o) {
    if (!bwd_data) {
      bwd_data_pd.emplace(dnnl::convolution_backward_data::desc(
                              dnnl::algorithm::convolution_direct, src,
                              memory::desc({d(o), d(g.c), d(g.kh), d(g.kw)}, dt::f32, tag::any),
                              dst, strides(g), pad_l(g), pad_r(g)),
                          engine(), fwd_pd);
      bwd_data.emplace(*bwd_data_pd);
      if (bwd_data_pd->weights_desc() != hwio) {
        bwd_data_weights = memory(bwd_data_pd->weights_desc(), engine());
        to_bwd_data.emplace(memory(hwio, engine(), nullptr), bwd_data_weights);
      }
    }
    return *bwd_data;
  }

  dnnl::convolution_backward_weights& backward_weights(const Window& g, std::size_t o) {
    if (!bwd_weights) {
      bwd_weights_pd.emplace(dnnl::convolution_backward_weights::desc(
                                 dnnl::algorithm::convolution_direct, src,
                                 memory::desc({d(o), d(g.c), d(g.kh), d(g.kw)}, dt::f32, tag::any),
                                 dst, strides(g), pad_l(g), pad_r(g)),
                             engine(), fwd_pd);
      bwd_weights.emplace(*bwd_weights_pd);
      if (bwd_weights_pd->diff_weights_desc() != hwio) {
        bwd_diff_weights = memory(bwd_weights_pd->diff_weights_desc(), engine());
        from_bwd_weights.emplace(bwd_diff_weights, memory(hwio, engine(), nullptr));
      }
    }
    return *bwd_weights;
  }
};

// Primitives hold JIT code and buffers: a program that feeds ever new
// shapes (varying batch sizes) must not grow the cache without end, so past
// kMaxCached geometries it starts afresh. A training loop uses a handful.
constexpr std::size_t kMaxCached = 64;

template <class Map>
void bound(Map& cache, const Key& key) {
  if (cache.size() >= kMaxCached && cache.find(key) == cache.end()) cache.clear();
}

Conv& conv_for(const Window& g, std::size_t o) {
  thread_local std::map<Key, std::unique_ptr<Conv>> cache;
  const Key key = key_of(g, o, 0);
  bound(cache, key);
  auto& slot = cache[key];
  if (!slot) slot = std::make_unique<Conv>(g, o);
  return *slot;
}

// A plain-layout memory over one of our buffers.
memory wrap(const memory::desc& md, const float* p) {
  return memory(md, engine(), const_cast<float*>(p));  // read-only use for inputs
}

// Reorders HWIO filters into `dst` (when the layouts differ) and returns the
// memory the primitive should read.
memory filters_for(const std::optional<dnnl::reorder>& r, memory dst, const memory::desc& hwio,
                   const float* filters) {
  memory src = wrap(hwio, filters);
  if (!r) return src;
  r->execute(stream(), src, dst);
  return dst;
}

struct Pool {
  memory::desc src, dst;
  dnnl::pooling_forward::primitive_desc fwd_pd;
  dnnl::pooling_forward fwd;
  std::optional<dnnl::pooling_backward::primitive_desc> bwd_pd;
  std::optional<dnnl::pooling_backward> bwd;

  Pool(const Window& g, bool is_max)
      : src(nhwc(g.n, g.c, g.h, g.w)),
        dst(nhwc(g.n, g.c, g.oh, g.ow)),
        fwd_pd(dnnl::pooling_forward::desc(dnnl::prop_kind::forward_training, algo(is_max), src,
                                           dst, strides(g), {d(g.kh), d(g.kw)}, pad_l(g), pad_r(g)),
               engine()),
        fwd(fwd_pd) {}

  static dnnl::algorithm algo(bool is_max) {
    return is_max ? dnnl::algorithm::pooling_max : dnnl::algorithm::pooling_avg_exclude_padding;
  }

  dnnl::pooling_backward& backward(const Window& g, bool is_max) {
    if (!bwd) {
      bwd_pd.emplace(dnnl::pooling_backward::desc(algo(is_max), src, dst, strides(g),
                                                  {d(g.kh), d(g.kw)}, pad_l(g), pad_r(g)),
                     engine(), fwd_pd);
      bwd.emplace(*bwd_pd);
    }
    return *bwd;
  }
};

Pool& pool_for(const Window& g, bool is_max) {
  thread_local std::map<Key, std::unique_ptr<Pool>> cache;
  const Key key = key_of(g, 0, is_max ? 1 : 2);
  bound(cache, key);
  auto& slot = cache[key];
  if (!slot) slot = std::make_unique<Pool>(g, is_max);
  return *slot;
}
}  // namespace

bool enabled() { return g_enabled.load(std::memory_order_relaxed); }
bool set_enabled(bool on) { return g_enabled.exchange(on); }

void conv_forward(const Window& g, std::size_t o, const float* x, const float* filters, float* y) {
  Conv& c = conv_for(g, o);
  memory w = filters_for(c.to_fwd, c.fwd_weights, c.hwio, filters);
  c.fwd.execute(
      stream(),
      {{DNNL_ARG_SRC, wrap(c.src, x)}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, wrap(c.dst, y)}});
  stream().wait();
}

void conv_backward_data(const Window& g, std::size_t o, const float* filters, const float* dy,
                        float* dx) {
  Conv& c = conv_for(g, o);
  auto& prim = c.backward_data(g, o);
  memory w = filters_for(c.to_bwd_data, c.bwd_data_weights, c.hwio, filters);
  prim.execute(stream(), {{DNNL_ARG_DIFF_DST, wrap(c.dst, dy)},
                          {DNNL_ARG_WEIGHTS, w},
                          {DNNL_ARG_DIFF_SRC, wrap(c.src, dx)}});
  stream().wait();
}

void conv_backward_weights(const Window& g, std::size_t o, const float* x, const float* dy,
                           float* dfilters) {
  Conv& c = conv_for(g, o);
  auto& prim = c.backward_weights(g, o);
  memory out = wrap(c.hwio, dfilters);
  memory dw = c.from_bwd_weights ? c.bwd_diff_weights : out;
  prim.execute(stream(), {{DNNL_ARG_SRC, wrap(c.src, x)},
                          {DNNL_ARG_DIFF_DST, wrap(c.dst, dy)},
                          {DNNL_ARG_DIFF_WEIGHTS, dw}});
  if (c.from_bwd_weights) c.from_bwd_weights->execute(stream(), dw, out);
  stream().wait();
}

std::shared_ptr<void> pool_forward(const Window& g, bool is_max, const float* x, float* y) {
  Pool& p = pool_for(g, is_max);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, wrap(p.src, x)},
                                       {DNNL_ARG_DST, wrap(p.dst, y)}};
  std::shared_ptr<memory> ws;
  if (is_max) {
    ws = std::make_shared<memory>(p.fwd_pd.workspace_desc(), engine());
    args.emplace(DNNL_ARG_WORKSPACE, *ws);
  }
  p.fwd.execute(stream(), args);
  stream().wait();
  return ws;
}

void pool_backward(const Window& g, bool is_max, const std::shared_ptr<void>& workspace,
                   const float* dy, float* dx) {
  Pool& p = pool_for(g, is_max);
  auto& prim = p.backward(g, is_max);
  std::unordered_map<int, memory> args{{DNNL_ARG_DIFF_DST, wrap(p.dst, dy)},
                                       {DNNL_ARG_DIFF_SRC, wrap(p.src, dx)}};
  if (is_max) args.emplace(DNNL_ARG_WORKSPACE, *std::static_pointer_cast<memory>(workspace));
  prim.execute(stream(), args);
  stream().wait();
}

}  // namespace tapeflow::detail::onednn
