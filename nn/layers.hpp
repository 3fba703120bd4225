// Layers and initializers, Keras-style, on top of the ops.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tapeflow/autograd/ops.hpp"
#include "tapeflow/autograd/variable.hpp"

namespace tapeflow::nn {

/// Glorot/Xavier uniform (TF's default kernel initializer): U(-l, l) with
/// l = sqrt(6 / (fan_in + fan_out)). For a Dense kernel [in, out] the fans are
/// in and out; for an HWIO conv kernel they are kh*kw*in and kh*kw*out.
Tensor glorot_uniform(const Shape& shape, Rng& rng, DType dtype = DType::float32);
/// He normal (TF): truncated normal with stddev sqrt(2 / fan_in) / 0.87962566103423978
/// (the correction for truncating at two standard deviations).
Tensor he_normal(const Shape& shape, Rng& rng, DType dtype = DType::float32);

enum class Activation { linear, relu, tanh, sigmoid };
enum class Initializer { glorot_uniform, he_normal };

class Sequential;

/// A layer builds its variables on its first call, from the input's shape.
class Layer {
 public:
  virtual ~Layer() = default;
  /// `training` switches layers such as Dropout on.
  Tensor operator()(const Tensor& x, bool training = false);
  /// The variables, in creation order (empty before the first call).
  const std::vector<Variable>& trainable_variables() const { return vars_; }
  const std::string& name() const { return name_; }

 protected:
  explicit Layer(std::string kind) : name_(std::move(kind)) {}
  virtual void build(const Shape& /*input_shape*/, Rng& /*rng*/) {}
  virtual Tensor call(const Tensor& x, bool training) = 0;
  /// Creates "<layer name>/<suffix>" as a trainable variable.
  Variable add_weight(const std::string& suffix, const Tensor& initial);
  Rng& rng() { return *rng_; }

 private:
  friend class Sequential;
  std::string name_;
  bool built_ = false;
  std::vector<Variable> vars_;
  Rng own_rng_{0};
  Rng* rng_ = &own_rng_;
};

/// y = activation(x · kernel + bias); kernel [in, units] glorot_uniform (or he_normal), bias zeros.
class Dense : public Layer {
 public:
  explicit Dense(std::size_t units, Activation activation = Activation::linear,
                 Initializer init = Initializer::glorot_uniform);

 private:
  void build(const Shape& input_shape, Rng& rng) override;
  Tensor call(const Tensor& x, bool training) override;
  std::size_t units_;
  Activation activation_;
  Initializer init_;
};

/// NHWC convolution with a [k, k, in, filters] kernel and a bias.
class Conv2D : public Layer {
 public:
  Conv2D(std::size_t filters, int kernel_size, Activation activation = Activation::linear,
         Padding padding = Padding::same, int stride = 1,
         Initializer init = Initializer::glorot_uniform);

 private:
  void build(const Shape& input_shape, Rng& rng) override;
  Tensor call(const Tensor& x, bool training) override;
  std::size_t filters_;
  int kernel_, stride_;
  Activation activation_;
  Padding padding_;
  Initializer init_;
};

/// Max pooling with a square window; strides default to the window.
class MaxPool2D : public Layer {
 public:
  explicit MaxPool2D(int pool_size = 2, int stride = 0, Padding padding = Padding::valid);

 private:
  Tensor call(const Tensor& x, bool training) override;
  int pool_, stride_;
  Padding padding_;
};

class Flatten : public Layer {
 public:
  Flatten() : Layer("flatten") {}

 private:
  Tensor call(const Tensor& x, bool training) override;
};

/// tf.nn.dropout while training, the identity at inference.
class Dropout : public Layer {
 public:
  explicit Dropout(double rate);

 private:
  Tensor call(const Tensor& x, bool training) override;
  double rate_;
};

/// Layers applied in order. Layer i is named "layer<i>_<kind>", so variable
/// names (and checkpoints) depend only on the model's structure. All layers
/// draw from the model's generator: seeded at construction for the initial
/// weights, and reseedable (`rng()`) for dropout masks.
class Sequential {
 public:
  explicit Sequential(std::uint64_t seed = 0) : rng_(seed) {}
  template <class L, class... Args>
  L& add(Args&&... args) {
    auto layer = std::make_shared<L>(std::forward<Args>(args)...);
    adopt(*layer);
    layers_.push_back(layer);
    return *layer;
  }
  Tensor operator()(const Tensor& x, bool training = false);
  /// Creates every variable by running a batch of one zero example of `example_shape`.
  void build(const Shape& example_shape);
  std::vector<Variable> trainable_variables() const;
  std::size_t size() const { return layers_.size(); }
  Rng& rng() { return rng_; }
  /// One line per layer: name, output shape, parameter count.
  std::string summary(const Shape& example_shape);

 private:
  void adopt(Layer& layer);
  std::vector<std::shared_ptr<Layer>> layers_;
  Rng rng_;
};

}  // namespace tapeflow::nn
