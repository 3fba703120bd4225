// libFuzzer target: restoring arbitrary bytes as a checkpoint into a small
// model, an Adam optimizer and a global step. Oracles: only tapeflow errors;
// a failed restore changes nothing; a successful one leaves shapes intact and
// a model that still trains.
#include "fuzz_common.hpp"

using namespace tapeflow;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = fuzz::scratch_file("-ckpt.npz");
  fuzz::write(path, data, size);
  Variable w(Tensor({{0.5, -0.5}, {0.25, 1.0}}, DType::float64), "w");
  Variable b(Tensor({0.0, 0.0}, DType::float64), "b");
  Adam opt(AdamOptions(0.01));
  Variable step = create_global_step();
  const auto w0 = w.value().to_vector();
  bool ok = false;
  fuzz::expect_only_tapeflow_errors([&] {
    restore_training_state(path, {w, b}, opt, step);
    ok = true;
  });
  if (!ok && (w.value().to_vector() != w0 || opt.iterations() != 0)) {
    fuzz::defect("a failed restore changed the model or the optimizer");
  }
  if (ok) {
    if (w.shape() != Shape{2, 2} || b.shape() != Shape{2})
      fuzz::defect("a restore changed a shape");
    fuzz::expect_only_tapeflow_errors([&] {
      opt.minimize(
          [&] {
            return reduce_sum(square(matmul(w, reshape(b, {2, 1}))));
          },
          &step, {w, b});
    });
  }
  std::remove(path.c_str());
  return 0;
}
