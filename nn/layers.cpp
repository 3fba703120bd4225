// Layers, initializers and Sequential.
#include "tapeflow/nn/layers.hpp"

#include <fmt/format.h>

#include <cmath>

#include "tapeflow/core/error.hpp"

namespace tapeflow::nn {
namespace {
std::pair<double, double> fans(const char* op, const Shape& s) {
  if (s.size() < 2) {
    throw ShapeError(fmt::format("{}: a kernel needs rank >= 2, got shape {}", op, shape_str(s)));
  }
  double receptive = 1;
  for (std::size_t d = 0; d + 2 < s.size(); ++d) receptive *= static_cast<double>(s[d]);
  return {receptive * static_cast<double>(s[s.size() - 2]),
          receptive * static_cast<double>(s.back())};
}

Tensor activate(const Tensor& x, Activation a) {
  switch (a) {
    case Activation::relu:
      return relu(x);
    case Activation::tanh:
      return tanh(x);
    case Activation::sigmoid:
      return sigmoid(x);
    default:
      return x;
  }
}

Tensor init_kernel(Initializer init, const Shape& shape, Rng& rng) {
  return init == Initializer::he_normal ? he_normal(shape, rng) : glorot_uniform(shape, rng);
}
}  // namespace

Tensor glorot_uniform(const Shape& shape, Rng& rng, DType dtype) {
  const auto [in, out] = fans("glorot_uniform", shape);
  const double limit = std::sqrt(6.0 / (in + out));
  return random_uniform(shape, -limit, limit, dtype, rng);
}

Tensor he_normal(const Shape& shape, Rng& rng, DType dtype) {
  const double in = fans("he_normal", shape).first;
  return truncated_normal(shape, 0.0, std::sqrt(2.0 / in) / 0.87962566103423978, dtype, rng);
}

Tensor Layer::operator()(const Tensor& x, bool training) {
  if (!built_) {
    build(x.shape(), *rng_);
    built_ = true;
  }
  return call(x, training);
}

Variable Layer::add_weight(const std::string& suffix, const Tensor& initial) {
  vars_.emplace_back(initial, name_ + "/" + suffix);
  return vars_.back();
}

Dense::Dense(std::size_t units, Activation activation, Initializer init)
    : Layer("dense"), units_(units), activation_(activation), init_(init) {
  if (units == 0) throw InvalidArgumentError("Dense: units must be > 0");
}

void Dense::build(const Shape& s, Rng& rng) {
  if (s.size() != 2) {
    throw ShapeError(
        fmt::format("{}: expected input [batch, features], got {}; add a Flatten layer first",
                    name(), shape_str(s)));
  }
  add_weight("kernel", init_kernel(init_, {s[1], units_}, rng));
  add_weight("bias", zeros({units_}));
}

Tensor Dense::call(const Tensor& x, bool) {
  const auto& v = trainable_variables();
  return activate(matmul(x, v[0]) + v[1], activation_);
}

Conv2D::Conv2D(std::size_t filters, int kernel_size, Activation activation, Padding padding,
               int stride, Initializer init)
    : Layer("conv2d"),
      filters_(filters),
      kernel_(kernel_size),
      stride_(stride),
      activation_(activation),
      padding_(padding),
      init_(init) {
  if (filters == 0 || kernel_size <= 0 || stride <= 0) {
    throw InvalidArgumentError(
        fmt::format("Conv2D: filters, kernel_size and stride must be > 0, got {}, {}, {}", filters,
                    kernel_size, stride));
  }
}

void Conv2D::build(const Shape& s, Rng& rng) {
  if (s.size() != 4)
    throw ShapeError(fmt::format("{}: expected NHWC input, got {}", name(), shape_str(s)));
  const auto k = static_cast<std::size_t>(kernel_);
  add_weight("kernel", init_kernel(init_, {k, k, s[3], filters_}, rng));
  add_weight("bias", zeros({filters_}));
}

Tensor Conv2D::call(const Tensor& x, bool) {
  const auto& v = trainable_variables();
  return activate(conv2d(x, v[0], {stride_, stride_}, padding_) + v[1], activation_);
}

MaxPool2D::MaxPool2D(int pool_size, int stride, Padding padding)
    : Layer("max_pool2d"),
      pool_(pool_size),
      stride_(stride ? stride : pool_size),
      padding_(padding) {}

Tensor MaxPool2D::call(const Tensor& x, bool) {
  return max_pool2d(x, {pool_, pool_}, {stride_, stride_}, padding_);
}

Tensor Flatten::call(const Tensor& x, bool) { return flatten(x); }

Dropout::Dropout(double rate) : Layer("dropout"), rate_(rate) {
  if (!(rate >= 0 && rate < 1))
    throw InvalidArgumentError(fmt::format("Dropout: rate must be in [0, 1), got {}", rate));
}

Tensor Dropout::call(const Tensor& x, bool training) {
  return training ? dropout(x, rate_, rng()) : x;
}

void Sequential::adopt(Layer& layer) {
  layer.name_ = fmt::format("layer{}_{}", layers_.size(), layer.name_);
  layer.rng_ = &rng_;
}

Tensor Sequential::operator()(const Tensor& x, bool training) {
  Tensor h = x;
  for (auto& l : layers_) h = (*l)(h, training);
  return h;
}

void Sequential::build(const Shape& example_shape) {
  Shape s{1};
  s.insert(s.end(), example_shape.begin(), example_shape.end());
  (*this)(zeros(s), false);
}

std::vector<Variable> Sequential::trainable_variables() const {
  std::vector<Variable> out;
  for (const auto& l : layers_) {
    const auto& v = l->trainable_variables();
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

std::string Sequential::summary(const Shape& example_shape) {
  Shape s{1};
  s.insert(s.end(), example_shape.begin(), example_shape.end());
  Tensor h = zeros(s);
  std::string out =
      fmt::format("  {:<18} {:<16} {:>10}\n  {:-<46}\n", "layer", "output shape", "parameters", "");
  std::size_t total = 0;
  for (auto& l : layers_) {
    h = (*l)(h, false);
    std::size_t params = 0;
    for (const auto& v : l->trainable_variables()) params += v.value().size();
    total += params;
    Shape shown(h.shape().begin() + 1, h.shape().end());
    out += fmt::format("  {:<18} {:<16} {:>10}\n", l->name(), shape_str(shown), params);
  }
  out += fmt::format("  {:-<46}\n  {:<18} {:<16} {:>10}\n", "", "total", "", total);
  return out;
}

}  // namespace tapeflow::nn
