// Checkpoints: exact resumption for every optimizer, atomic writes, and
// verified loads that leave the program untouched on a bad file.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "helpers.hpp"

using namespace tapeflow;
namespace fs = std::filesystem;
using tf_test::scratch;

namespace {

// A small model with a dense and a sparse (gather) gradient.
struct Model {
  Variable w, table;
  explicit Model(const std::string& tag)
      : w(Tensor({{0.5, -0.3}, {0.2, 0.8}}, DType::float64), "w"),
        table(Tensor({{1, 0}, {0, 1}, {1, 1}}, DType::float64), "table") {
    (void)tag;
  }
  Tensor loss(int step) const {
    const Tensor idx =
        Tensor::from_vector(std::vector<std::int64_t>{step % 3, (step + 1) % 3, step % 3}, {3});
    const Tensor rows = gather(table, idx);            // [3, 2]
    return reduce_sum(square(matmul(rows, w) - 1.0));  // dense for w, IndexedSlices for table
  }
};

std::unique_ptr<Optimizer> make(const std::string& kind) {
  if (kind == "sgd") return std::make_unique<SGD>(0.05);
  if (kind == "momentum") return std::make_unique<Momentum>(0.05, 0.9, true);
  if (kind == "adam") return std::make_unique<Adam>(AdamOptions{0.05});
  if (kind == "adagrad") return std::make_unique<Adagrad>(0.05);
  if (kind == "rmsprop") return std::make_unique<RMSProp>(0.05, 0.9, 0.5, 1e-10, true);
  if (kind == "adadelta") return std::make_unique<Adadelta>(1.0);
  if (kind == "adamw") return std::make_unique<AdamW>(AdamOptions(0.05), 0.1);
  return std::make_unique<Adam>(AdamOptions(0.05).lazy(true));
}
}  // namespace

TEST_CASE("k steps + save + restore + N-k steps equal N steps, bit for bit",
          "[optim][checkpoint]") {
  const int N = 6, k = 2;
  for (const std::string kind :
       {"sgd", "momentum", "adam", "lazy_adam", "adagrad", "rmsprop", "adadelta", "adamw"}) {
    DYNAMIC_SECTION(kind) {
      std::vector<double> straight_w, straight_t;
      {
        Model m("a");
        auto opt = make(kind);
        Variable step = create_global_step();
        for (int s = 0; s < N; ++s) opt->minimize([&] { return m.loss(s); }, &step, {m.w, m.table});
        straight_w = m.w.value().to_vector();
        straight_t = m.table.value().to_vector();
      }
      const auto path = scratch("resume", kind + ".npz").string();
      {
        Model m("b");
        auto opt = make(kind);
        Variable step = create_global_step();
        for (int s = 0; s < k; ++s) opt->minimize([&] { return m.loss(s); }, &step, {m.w, m.table});
        save_checkpoint(path, {m.w, m.table, step}, opt.get());
      }
      Model m("c");  // a fresh "process": new variables, new optimizer
      auto opt = make(kind);
      Variable step = create_global_step();
      restore_checkpoint(path, {m.w, m.table, step}, opt.get());
      CHECK(step.value().item() == k);
      CHECK(opt->iterations() == k);
      for (int s = k; s < N; ++s) opt->minimize([&] { return m.loss(s); }, &step, {m.w, m.table});
      CHECK(m.w.value().to_vector() == straight_w);
      CHECK(m.table.value().to_vector() == straight_t);
    }
  }
}

TEST_CASE("bad checkpoints raise DataError and change nothing", "[optim][checkpoint]") {
  const auto path = scratch("bad", "good.npz").string();
  Variable w(Tensor({1, 2, 3}, DType::float64), "cw");
  Adam opt(AdamOptions{0.1});
  opt.apply_gradients({{Tensor({1, 1, 1}, DType::float64), w}});
  save_checkpoint(path, {w}, &opt, {{"rng", Tensor(std::int64_t{42})}});
  const auto saved = w.value().to_vector();
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

  Variable target(Tensor({9, 9, 9}, DType::float64), "cw");
  Adam fresh(AdamOptions{0.1});
  auto untouched = [&] {
    CHECK(target.value().to_vector() == std::vector<double>{9, 9, 9});
    CHECK(fresh.iterations() == 0);
    CHECK_FALSE(fresh.get_slot(target, "m"));
  };
  auto write = [](const std::string& p, const std::string& b) {
    std::ofstream(p, std::ios::binary) << b;
  };
  SECTION("a good file restores everything and returns the extras") {
    auto extra = restore_checkpoint(path, {target}, &fresh);
    CHECK(target.value().to_vector() == saved);
    CHECK(fresh.iterations() == 1);
    CHECK(fresh.beta1_power() == Approx(0.81));
    CHECK(extra.at("rng").item() == 42);
  }
  SECTION("truncated") {
    const auto bad = scratch("bad", "truncated.npz").string();
    write(bad, bytes.substr(0, bytes.size() / 2));
    CHECK_THROWS_AS(restore_checkpoint(bad, {target}, &fresh), DataError);
    CHECK_THROWS_WITH(restore_checkpoint(bad, {target}, &fresh), Catch::Contains("truncated.npz"));
    untouched();
  }
  SECTION("one altered byte in the data") {
    const auto bad = scratch("bad", "altered.npz").string();
    std::string b = bytes;
    b[b.size() / 3] ^= 0x01;
    write(bad, b);
    CHECK_THROWS_AS(restore_checkpoint(bad, {target}, &fresh), DataError);
    untouched();
  }
  SECTION("a missing variable") {
    Variable other(Tensor({1}, DType::float64), "other_var");
    CHECK_THROWS_WITH(restore_checkpoint(path, {target, other}, &fresh),
                      Catch::Contains("other_var"));
    untouched();
  }
  SECTION("a shape or dtype mismatch") {
    Variable wrong(Tensor({1, 2}, DType::float64), "cw");
    CHECK_THROWS_WITH(restore_checkpoint(path, {target, wrong}, &fresh), Catch::Contains("[2]"));
    untouched();
  }
  SECTION("a missing file") {
    CHECK_THROWS_AS(restore_checkpoint(scratch("bad", "nope.npz").string(), {target}, &fresh),
                    DataError);
  }
  SECTION("the write is atomic: no temporary file is left behind") {
    for (const auto& entry : fs::directory_iterator(scratch("bad", "").parent_path())) {
      CHECK(entry.path().string().find(".tmp.") == std::string::npos);
    }
  }
}

TEST_CASE("npz files hold every dtype and shape exactly", "[core][npz]") {
  const auto path = scratch("npz", "roundtrip.npz").string();
  NamedTensors in{{"f32", Tensor{{1.5f, -2.f, 3.f}, {4.f, 5.f, 6.f}}},
                  {"f64", Tensor({0.1, 1e300}, DType::float64)},
                  {"i64", Tensor(std::int64_t{-7})},
                  {"empty", zeros({0, 3})},
                  {"nested/name", ones({2, 2, 2})}};
  save_npz(path, in);
  auto out = load_npz(path);
  REQUIRE(out.size() == in.size());
  for (const auto& [k, t] : in) {
    CHECK(out.at(k).dtype() == t.dtype());
    CHECK(out.at(k).shape() == t.shape());
    CHECK(out.at(k).to_vector() == t.to_vector());
  }
}

TEST_CASE("save_training_state keeps the global step with the model", "[optim][checkpoint]") {
  const auto path = scratch("training_state", "state.npz").string();
  Model m("s");
  Momentum opt(0.05, 0.9);
  Variable step = create_global_step();
  for (int s = 0; s < 3; ++s) opt.minimize([&] { return m.loss(s); }, &step, {m.w, m.table});
  save_training_state(path, {m.w, m.table}, opt, step, {{"epoch", Tensor(std::int64_t{7})}});

  Model fresh("t");
  Momentum opt2(0.05, 0.9);
  Variable step2 = create_global_step();
  const auto extra = restore_training_state(path, {fresh.w, fresh.table}, opt2, step2);
  CHECK(step2.value().item() == 3);
  CHECK(extra.at("epoch").item() == 7);
  CHECK(fresh.w.value().to_vector() == m.w.value().to_vector());
  CHECK(opt2.get_slot(fresh.w, "momentum")->to_vector() ==
        opt.get_slot(m.w, "momentum")->to_vector());
  // A plain checkpoint has no global step: restore_training_state says so.
  const auto plain = scratch("training_state", "plain.npz").string();
  save_checkpoint(plain, {m.w, m.table}, &opt);
  CHECK_THROWS_WITH(restore_training_state(plain, {fresh.w, fresh.table}, opt2, step2),
                    Catch::Contains("global_step"));
}

TEST_CASE("restoring another optimizer's state is an error naming both", "[optim][checkpoint]") {
  const auto path = scratch("other_type", "adam.npz").string();
  Model m("o");
  Adam adam(0.05);
  adam.minimize([&] { return m.loss(0); }, nullptr, {m.w, m.table});
  save_checkpoint(path, {m.w, m.table}, &adam);

  Model fresh("p");
  Momentum momentum(0.05, 0.9);
  const auto before = fresh.w.value().to_vector();
  CHECK_THROWS_AS(restore_checkpoint(path, {fresh.w, fresh.table}, &momentum), DataError);
  CHECK_THROWS_WITH(restore_checkpoint(path, {fresh.w, fresh.table}, &momentum),
                    Catch::Contains("Adam") && Catch::Contains("Momentum"));
  CHECK(fresh.w.value().to_vector() == before);  // nothing changed
  CHECK(momentum.iterations() == 0);
  // Without the type tag (a file from before it existed), the foreign slots still give it away.
  auto state = adam.state();
  state.erase("type");
  CHECK_THROWS_WITH(momentum.load_state(state, {m.w, m.table}),
                    Catch::Contains("/m'") && Catch::Contains("Momentum"));
}

TEST_CASE("an in-process restore makes the optimizer's state equal to the checkpoint's",
          "[optim][checkpoint]") {
  // Saved before the first step: no slots, no beta powers. Steps taken since
  // created them; restoring must remove them, so the next step equals a fresh
  // process's first step.
  const auto path = scratch("stale", "before.npz").string();
  Model m("x");
  Adam opt(0.05);
  Variable step = create_global_step();
  save_training_state(path, {m.w, m.table}, opt, step);
  const auto w0 = m.w.value().to_vector();
  for (int s = 0; s < 3; ++s) opt.minimize([&] { return m.loss(s); }, &step, {m.w, m.table});
  restore_training_state(path, {m.w, m.table}, opt, step);
  CHECK(m.w.value().to_vector() == w0);
  CHECK_FALSE(opt.get_slot(m.w, "m"));
  CHECK_FALSE(opt.get_non_slot("beta1_power"));
  opt.minimize([&] { return m.loss(0); }, &step, {m.w, m.table});

  Model fresh("y");
  Adam opt2(0.05);
  Variable step2 = create_global_step();
  opt2.minimize([&] { return fresh.loss(0); }, &step2, {fresh.w, fresh.table});
  CHECK(m.w.value().to_vector() == fresh.w.value().to_vector());
  CHECK(m.table.value().to_vector() == fresh.table.value().to_vector());
}
