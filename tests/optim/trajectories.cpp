// Prints, as JSON, five steps of each optimizer on the quadratic loss
// sum(c * (w - t)^2) from a fixed start, for torch_crosscheck.py to replay in
// PyTorch. float64 throughout, so the two sides agree to rounding.
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <tapeflow/tapeflow.hpp>
#include <vector>

using namespace tapeflow;

namespace {
struct Case {
  std::string name;  // torch_crosscheck.py builds the PyTorch optimizer from this
  std::function<std::unique_ptr<Optimizer>()> make;
};

std::string json(const std::vector<double>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%s%.17g", i ? ", " : "", v[i]);
    s += buf;
  }
  return s + "]";
}
}  // namespace

int main() {
  const std::vector<double> start{0.5, -1.0, 2.0, 0.0, 1.5, -0.25};
  const std::vector<double> target{1.0, 1.0, -1.0, 0.5, 0.0, 2.0};
  const std::vector<double> coef{1.0, 0.5, 2.0, 1.5, 0.25, 3.0};
  const std::vector<Case> cases{
      {"sgd", [] { return std::make_unique<SGD>(0.1); }},
      {"nesterov", [] { return std::make_unique<Momentum>(0.05, 0.9, true); }},
      {"adagrad", [] { return std::make_unique<Adagrad>(0.3, 0.1); }},
      {"adadelta", [] { return std::make_unique<Adadelta>(1.0, 0.9, 1e-6); }},
      {"adamw", [] { return std::make_unique<AdamW>(AdamOptions(0.05).epsilon(0), 0.1); }},
      {"adam", [] { return std::make_unique<Adam>(AdamOptions(0.05).epsilon(0)); }},
  };
  const Tensor t = Tensor::from_vector(target, {target.size()});
  const Tensor c = Tensor::from_vector(coef, {coef.size()});
  std::printf("{\"start\": %s, \"target\": %s, \"coef\": %s, \"steps\": 5, \"cases\": {",
              json(start).c_str(), json(target).c_str(), json(coef).c_str());
  for (std::size_t k = 0; k < cases.size(); ++k) {
    Variable w(Tensor::from_vector(start, {start.size()}), "w_" + cases[k].name);
    auto opt = cases[k].make();
    std::string trajectory;
    for (int step = 0; step < 5; ++step) {
      opt->minimize([&] { return reduce_sum(c * square(w - t)); }, nullptr, {w});
      trajectory += (step ? ", " : "") + json(w.value().to_vector());
    }
    std::printf("%s\"%s\": [%s]", k ? ", " : "", cases[k].name.c_str(), trajectory.c_str());
  }
  std::printf("}}\n");
}
