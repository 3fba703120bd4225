// The TF1 idiom, written out by hand: compute_gradients, clip_by_global_norm,
// apply_gradients. (Installing clip::by_global_norm on the optimizer does the
// same inside apply_gradients.)
#include <tapeflow/core/format.hpp>
#include <tapeflow/tapeflow.hpp>

int main() {
  using namespace tapeflow;
  Rng rng(1);
  const Tensor x = random_normal({256, 4}, 0, 1, DType::float32, rng);
  const Tensor true_w = random_normal({4, 1}, 0, 3, DType::float32, rng);
  const Tensor y = matmul(x, true_w);

  Variable w(zeros({4, 1}), "w");
  Momentum opt(0.05, 0.9);
  Variable global_step = create_global_step();
  const double clip_norm = 1.0;

  for (int step = 0; step < 300; ++step) {
    GradsAndVars grads_and_vars =
        opt.compute_gradients([&] { return reduce_mean(square(matmul(x, w) - y)); });
    std::vector<Gradient> grads;
    for (const auto& [g, v] : grads_and_vars) grads.push_back(g);
    auto [clipped, norm] = clip::clip_by_global_norm(grads, clip_norm);
    for (std::size_t i = 0; i < clipped.size(); ++i) grads_and_vars[i].first = clipped[i];
    opt.apply_gradients(grads_and_vars, &global_step);
    if (step % 50 == 0)
      fmt::print("step {:3}: global norm before clipping {:.4f}\n", step, norm.item());
  }
  fmt::print("learned {}\ntrue    {}\n", transpose(w.value()), transpose(true_w));
  return 0;
}
