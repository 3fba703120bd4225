// Trains a classifier on MNIST or Fashion-MNIST with the TF1-style loop:
// compute_gradients -> clipping stage -> apply_gradients(global_step).
// `make mnist` runs it with the defaults; --help lists every flag.
// `mpirun -np N mnist --distributed` (make mnist-mpi NP=N) trains data-parallel.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <tapeflow/core/format.hpp>
#include <tapeflow/tapeflow.hpp>
#ifdef TAPEFLOW_EXAMPLE_MPI
#include <tapeflow/distributed/distributed.hpp>
#endif

using namespace tapeflow;
using Clock = std::chrono::steady_clock;

namespace {
struct Config {
  std::string dataset = "mnist", data_dir, model = "cnn", optimizer = "adam";
  double lr = 1e-3, lr_decay = 0.85, momentum = 0.9, weight_decay = 0.0;
  std::size_t batch_size = 64, epochs = 3, train_limit = 0, test_limit = 0, validation = 0;
  std::vector<std::string> clip{"global_norm=5"};
  std::uint64_t seed = 42;
  int threads = 0;
  std::string checkpoint_dir, metrics;
  bool resume = false, quiet = false, normalize = true, dropout = true, distributed = false;
  double mpi_timeout = 600;
};

// The processes of a data-parallel run (one, unless --distributed).
struct Ranks {
  int rank = 0, size = 1;
  bool root() const { return rank == 0; }
  // Sums `v` over the ranks, in place (metrics and evaluation counts).
  void sum(std::vector<double>& v, double timeout) const {
#ifdef TAPEFLOW_EXAMPLE_MPI
    if (size > 1) mpi::allreduce_sum(v, MPI_COMM_WORLD, timeout);
#else
    (void)v, (void)timeout;
#endif
  }
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
    if (kind == "adaptive") return clip::by_adaptive(std::stod(arg));
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
                  "adaptive=C, value=LO,HI or none",
                  spec));
}

// The models of the README's table: per dataset, the sizes of the reference runs.
void build_model(nn::Sequential& m, const Config& c) {
  const bool mnist = c.dataset == "mnist";
  using nn::Activation;
  if (c.model == "mlp") {
    m.add<nn::Flatten>();
    m.add<nn::Dense>(mnist ? 512 : 256, Activation::relu);
    if (mnist && c.dropout) m.add<nn::Dropout>(0.2);
    m.add<nn::Dense>(256, Activation::relu);
    if (mnist && c.dropout) m.add<nn::Dropout>(0.2);
  } else if (c.model == "cnn") {
    m.add<nn::Conv2D>(mnist ? 32 : 16, 5, Activation::relu);
    m.add<nn::MaxPool2D>(2);
    m.add<nn::Conv2D>(mnist ? 64 : 32, 5, Activation::relu);
    m.add<nn::MaxPool2D>(2);
    m.add<nn::Flatten>();
    if (mnist && c.dropout) m.add<nn::Dropout>(0.25);
    m.add<nn::Dense>(mnist ? 256 : 128, Activation::relu);
    if (mnist && c.dropout) m.add<nn::Dropout>(0.5);
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
  if (c.optimizer == "adam") return std::make_unique<Adam>(AdamOptions(lr));
  // Biases are not decayed, as usual for AdamW.
  if (c.optimizer == "adamw")
    return std::make_unique<AdamW>(AdamOptions(lr), c.weight_decay,
                                   std::vector<std::string>{"bias"});
  if (c.optimizer == "adagrad") return std::make_unique<Adagrad>(lr);
  if (c.optimizer == "rmsprop") return std::make_unique<RMSProp>(lr);
  if (c.optimizer == "adadelta") return std::make_unique<Adadelta>(lr);
  throw InvalidArgumentError(fmt::format("--optimizer: unknown optimizer '{}'", c.optimizer));
}

struct Eval {
  double loss = 0, accuracy = 0;
  std::vector<std::vector<std::size_t>> confusion =
      std::vector<std::vector<std::size_t>>(10, std::vector<std::size_t>(10));
};

// Examples [begin, begin + count) of a dataset, copied.
Dataset take(const Dataset& d, std::size_t begin, std::size_t count) {
  const auto b = static_cast<long>(begin), n = static_cast<long>(count);
  return {slice(d.images, {b, 0, 0, 0}, {n, -1, -1, -1}), slice(d.labels, {b}, {n})};
}

// Loss and confusion matrix over `data`; with several ranks each takes an
// equal slice and the sums are added up, so every rank gets the whole result.
Eval evaluate(nn::Sequential& model, const Dataset& data, const Ranks& ranks, double timeout) {
  const std::size_t begin = data.size() * static_cast<std::size_t>(ranks.rank) / ranks.size;
  const std::size_t end = data.size() * static_cast<std::size_t>(ranks.rank + 1) / ranks.size;
  std::vector<double> sums(101, 0.0);  // loss sum, then the 10 x 10 confusion counts
  if (end > begin) {
    const Dataset part = ranks.size == 1 ? data : take(data, begin, end - begin);
    Batches batches(part, 500, 0, /*shuffle=*/false);
    for (const Dataset& b : batches.epoch(0)) {
      const Tensor logits = model(b.images, false);
      sums[0] += reduce_sum(sparse_softmax_cross_entropy_with_logits(b.labels, logits)).item();
      const auto pred = argmax(logits, 1).to_vector();
      const auto truth = b.labels.to_vector();
      for (std::size_t k = 0; k < pred.size(); ++k)
        sums[1 + static_cast<std::size_t>(truth[k]) * 10 + static_cast<std::size_t>(pred[k])] += 1;
    }
  }
  ranks.sum(sums, timeout);
  Eval e;
  std::size_t correct = 0;
  for (std::size_t t = 0; t < 10; ++t) {
    for (std::size_t p = 0; p < 10; ++p)
      e.confusion[t][p] = static_cast<std::size_t>(sums[1 + t * 10 + p]);
    correct += e.confusion[t][t];
  }
  e.loss = sums[0] / static_cast<double>(data.size());
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

// Validators: each returns "" or what is wrong; CLI11 puts the flag's name in
// front, so every bad value is reported as "--flag: ...".
CLI::Validator number(double lo, bool lo_open, double hi, const std::string& range) {
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        char* end = nullptr;
        const double v = std::strtod(text.c_str(), &end);
        const bool in = end != text.c_str() && *end == '\0' && std::isfinite(v) &&
                        (lo_open ? v > lo : v >= lo) && v <= hi;
        return in ? "" : "must be " + range + ", got '" + text + "'";
      },
      range);
}
CLI::Validator whole(long long lo, long long hi) {
  const std::string range = fmt::format("a whole number in [{}, {}]", lo, hi);
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        char* end = nullptr;
        errno = 0;
        const long long v = std::strtoll(text.c_str(), &end, 10);
        const bool in = end != text.c_str() && *end == '\0' && errno == 0 && v >= lo && v <= hi;
        return in ? "" : "must be " + range + ", got '" + text + "'";
      },
      range);
}
// A directory that exists, or that can be created: its nearest existing
// ancestor is a writable directory.
std::string creatable_dir_problem(const std::string& text) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path p = fs::absolute(text, ec);
  if (fs::exists(p, ec)) {
    if (!fs::is_directory(p, ec)) return "'" + text + "' exists and is not a directory";
    return ::access(p.c_str(), W_OK) == 0 ? "" : "'" + text + "' is not writable";
  }
  while (!p.empty() && !fs::exists(p, ec)) p = p.parent_path();
  if (!fs::is_directory(p, ec)) return "'" + p.string() + "' is not a directory";
  if (::access(p.c_str(), W_OK) != 0)
    return "cannot create '" + text + "': '" + p.string() + "' is not writable";
  return "";
}
const CLI::Validator kCreatableDir([](std::string& text) { return creatable_dir_problem(text); },
                                   "DIR");
const CLI::Validator kWritableFile(
    [](std::string& text) -> std::string {
      namespace fs = std::filesystem;
      std::error_code ec;
      if (fs::is_directory(text, ec)) return "'" + text + "' is a directory, not a file";
      const fs::path parent = fs::absolute(text, ec).parent_path();
      return creatable_dir_problem(parent.string());
    },
    "FILE");
const CLI::Validator kClipSpec(
    [](std::string& text) -> std::string {
      try {
        parse_clip(text);
        return "";
      } catch (const Error& e) {
        const std::string message = e.what(), prefix = "--clip: ";  // CLI11 adds the flag itself
        return message.rfind(prefix, 0) == 0 ? message.substr(prefix.size()) : message;
      }
    },
    "SPEC");

// Every flag, validated at parse time so a bad value names its flag.
void add_flags(CLI::App& app, Config& c) {
  const double kMax = std::numeric_limits<double>::max();
  app.add_option("--dataset", c.dataset,
                 "mnist (the original 60,000 / 10,000 digits) or fashion (Fashion-MNIST)")
      ->check(CLI::IsMember({"mnist", "fashion"}))
      ->capture_default_str();
  app.add_option("--data-dir", c.data_dir,
                 "directory of the four IDX files (default data/<dataset>; make data)");
  app.add_option("--model", c.model, "mlp or cnn (sizes per dataset: see README)")
      ->check(CLI::IsMember({"mlp", "cnn"}))
      ->capture_default_str();
  app.add_option("--optimizer", c.optimizer,
                 "sgd, momentum, adam, adamw, adagrad, rmsprop or adadelta (TF1's defaults "
                 "for the rest of each optimizer's settings)")
      ->check(CLI::IsMember({"sgd", "momentum", "adam", "adamw", "adagrad", "rmsprop", "adadelta"}))
      ->capture_default_str();
  app.add_option("--weight-decay", c.weight_decay,
                 "decoupled weight decay for --optimizer adamw (biases excluded)")
      ->check(number(0, false, kMax, "a number >= 0"))
      ->capture_default_str();
  app.add_option("--lr", c.lr, "initial learning rate")
      ->check(number(0, true, kMax, "a number > 0"))
      ->capture_default_str();
  app.add_option("--lr-decay", c.lr_decay, "learning-rate factor per epoch (1 = constant)")
      ->check(number(0, true, 1, "in (0, 1]"))
      ->capture_default_str();
  app.add_option("--momentum", c.momentum, "momentum for --optimizer momentum")
      ->check(number(0, false, kMax, "a number >= 0"))
      ->capture_default_str();
  app.add_option("--batch-size", c.batch_size, "examples per step")
      ->check(whole(1, 1 << 20))
      ->capture_default_str();
  app.add_option("--epochs", c.epochs, "passes over the training set")
      ->check(whole(1, 100000))
      ->capture_default_str();
  app.add_option(
         "--clip", c.clip,
         "clipping stage, applied in the order given: global_norm=C, norm=C, average_norm=C, "
         "adaptive=C (unit-wise, relative to the weights), value=LO,HI, or none (repeat the "
         "flag to chain)")
      ->check(kClipSpec)
      ->capture_default_str();
  app.add_option("--seed", c.seed, "seed for initial weights, shuffling and dropout")
      ->check(whole(0, std::numeric_limits<long long>::max()))
      ->capture_default_str();
  app.add_option("--threads", c.threads,
                 "threads for tapeflow's kernels (0: OpenMP's default, OMP_NUM_THREADS or all "
                 "cores; see set_num_threads)")
      ->check(whole(0, 1024))
      ->capture_default_str();
  app.add_option("--checkpoint-dir", c.checkpoint_dir,
                 "write <dir>/checkpoint.npz after every epoch (created if missing)")
      ->check(kCreatableDir);
  app.add_flag("--resume", c.resume, "continue from <checkpoint-dir>/checkpoint.npz");
  app.add_option("--metrics", c.metrics, "CSV file: a row per step and per epoch")
      ->check(kWritableFile);
  app.add_option("--train-limit", c.train_limit, "use only the first N training examples (0: all)")
      ->check(whole(0, std::numeric_limits<int>::max()));
  app.add_option("--test-limit", c.test_limit, "use only the first N test examples (0: all)")
      ->check(whole(0, std::numeric_limits<int>::max()));
  app.add_option("--validation", c.validation,
                 "hold out the last N training examples and report accuracy on them each epoch "
                 "(the test set is never used for choices)")
      ->check(whole(0, std::numeric_limits<int>::max()))
      ->capture_default_str();
  app.add_flag("--quiet", c.quiet, "print only the final result");
  app.add_flag("--distributed", c.distributed,
               "data-parallel training over the processes of mpirun (mpirun -np N mnist "
               "--distributed): each takes batch-size / N examples per step; rank 0 prints and "
               "writes the metrics and checkpoints");
  app.add_option("--mpi-timeout", c.mpi_timeout,
                 "with --distributed: seconds a collective may wait for the other ranks before "
                 "the run stops with an error (0: no limit)")
      ->check(number(0, false, 1e9, "in [0, 1e9]"))
      ->capture_default_str();
  app.add_flag("--normalize,!--no-normalize", c.normalize,
               "standardise pixels with the training set's mean and deviation (--no-normalize "
               "turns it off)")
      ->default_str("on");
  app.add_flag("--dropout,!--no-dropout", c.dropout,
               "the MNIST models' dropout layers (--no-dropout leaves them out: a run whose "
               "result depends only on the data order and the arithmetic)")
      ->default_str("on");
}

// The metrics CSV: one row per step, one per epoch; appended to on --resume.
class MetricsLog {
 public:
  MetricsLog(const std::string& path, bool resume) {
    if (path.empty()) return;
    const bool append = resume && std::filesystem::exists(path);
    out_.open(path, append ? std::ios::app : std::ios::trunc);
    if (!out_) throw DataError(fmt::format("--metrics: cannot write '{}'", path));
    if (!append)
      out_ << "kind,epoch,step,loss,grad_norm,lr,train_loss,train_acc,test_loss,test_acc,seconds,"
              "val_loss,val_acc\n";
  }
  void step(std::size_t epoch, std::uint64_t step, double loss, double gnorm, double lr) {
    if (out_.is_open())
      out_ << fmt::format("step,{},{},{:.6f},{:.6f},{:.6g},,,,,,,\n", epoch, step, loss, gnorm, lr);
  }
  void epoch(std::size_t epoch, std::int64_t step, double train_loss, double train_acc,
             const Eval& test, const Eval* validation, double seconds) {
    if (!out_.is_open()) return;
    out_ << fmt::format("epoch,{},{},,,,{:.6f},{:.6f},{:.6f},{:.6f},{:.3f},{},{}\n", epoch, step,
                        train_loss, train_acc, test.loss, test.accuracy, seconds,
                        validation ? fmt::format("{:.6f}", validation->loss) : "",
                        validation ? fmt::format("{:.6f}", validation->accuracy) : "");
    out_.flush();
  }

 private:
  std::ofstream out_;
};

// Everything one run trains with.
struct Run {
  const Config& c;
  const Ranks& ranks;
  nn::Sequential& model;
  Batches& batches;
  Optimizer& opt;
  // compute_gradients_and_loss of the optimizer, or of its distributed wrapper.
  using Compute =
      std::function<GradientsAndLoss(const std::function<Tensor()>&, std::vector<Variable>)>;
  Compute compute;
  Variable& global_step;
  std::vector<Variable> vars;
  MetricsLog& metrics;
  bool tty;
};

struct EpochResult {
  double loss = 0, accuracy = 0, seconds = 0;
  std::size_t seen = 0;
};

// One pass over the training set, TF1 style: compute_gradients -> stage -> apply_gradients.
EpochResult train_epoch(Run& r, std::size_t epoch) {
  const auto t0 = Clock::now();
  EpochResult e;
  double loss_sum = 0;
  std::size_t correct = 0, i = 0;
  for (const Dataset& b : r.batches.epoch(epoch)) {
    const auto step = static_cast<std::uint64_t>(r.global_step.value().item());
    // Dropout masks depend on the step (and the rank) only, so --resume is exact.
    r.model.rng().seed(r.c.seed * 0x9e3779b97f4a7c15ULL + step +
                       static_cast<std::uint64_t>(r.ranks.rank) * 0xd1b54a32d192ed03ULL);
    Tensor logits;
    const double lr = r.opt.learning_rate(static_cast<std::int64_t>(step));
    auto [gv, loss_t] = r.compute(
        [&] {
          logits = r.model(b.images, true);
          return reduce_mean(sparse_softmax_cross_entropy_with_logits(b.labels, logits));
        },
        r.vars);
    const double loss = loss_t.item();
    r.opt.apply_gradients(std::move(gv), &r.global_step);
    const auto& report = r.opt.clip_report();
    const double gnorm = report.global_norm ? *report.global_norm : std::nan("");
    const auto pred = argmax(logits, 1).to_vector();
    const auto truth = b.labels.to_vector();
    for (std::size_t k = 0; k < pred.size(); ++k) correct += pred[k] == truth[k];
    e.seen += pred.size();
    loss_sum += loss * static_cast<double>(pred.size());
    r.metrics.step(epoch + 1, step + 1, loss, gnorm, lr);
    ++i;
    if (r.tty) {
      const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
      const double rate = static_cast<double>(e.seen * r.ranks.size) / std::max(secs, 1e-9);
      const double left = static_cast<double>(r.batches.size() - i) * r.c.batch_size;
      fmt::print(
          "\repoch {}/{} {} {}/{}  {:5.0f} samples/s  loss {:.4f}  |g| {:.3f}  ETA {:3.0f}s ",
          epoch + 1, r.c.epochs, bar(static_cast<double>(i) / r.batches.size()), i,
          r.batches.size(), rate, loss, gnorm, left / std::max(rate, 1e-9));
      std::fflush(stdout);
    }
  }
  std::vector<double> sums{loss_sum, static_cast<double>(correct), static_cast<double>(e.seen)};
  r.ranks.sum(sums, r.c.mpi_timeout);  // every rank's share of the epoch
  e.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  e.seen = static_cast<std::size_t>(sums[2]);
  e.loss = sums[0] / sums[2];
  e.accuracy = sums[1] / sums[2];
  return e;
}

clip::GradientTransform make_stage(const Config& c) {
  if (c.clip.empty()) return clip::identity();
  std::vector<clip::GradientTransform> ts;
  for (const auto& s : c.clip) ts.push_back(parse_clip(s));
  return clip::chain(std::move(ts));
}
}  // namespace

int main(int argc, char** argv) {
  Config c;
  CLI::App app{
      "Train an MNIST / Fashion-MNIST classifier with tapeflow (TF1-style optimizer loop)"};
  add_flags(app, c);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 1;  // --help is 0; every bad flag is 1, as any other error
  }

  Ranks ranks;
#ifdef TAPEFLOW_EXAMPLE_MPI
  std::optional<mpi::Environment> mpi_env;  // outlives the try: errors are printed first
#endif
  try {
    if (c.distributed) {
#ifdef TAPEFLOW_EXAMPLE_MPI
      mpi_env.emplace(argc, argv);
      ranks.rank = mpi::rank();
      ranks.size = mpi::size();
#else
      throw InvalidArgumentError(
          "--distributed: this build has no MPI (scripts/install-deps.sh mpi, then rebuild)");
#endif
    }
    if (!ranks.root()) c.quiet = true;  // one voice: rank 0's
    if (c.batch_size % static_cast<std::size_t>(ranks.size) != 0) {
      throw InvalidArgumentError(
          fmt::format("--batch-size: {} is not divisible by the {} ranks (each rank takes "
                      "batch-size / ranks examples per step)",
                      c.batch_size, ranks.size));
    }
    if (c.threads > 0) set_num_threads(c.threads);
    if (c.data_dir.empty()) c.data_dir = "data/" + c.dataset;
    if (c.resume && c.checkpoint_dir.empty())
      throw InvalidArgumentError("--resume needs --checkpoint-dir");
    Dataset train = load_idx_dataset(c.data_dir, "train", c.train_limit);
    Dataset test = load_idx_dataset(c.data_dir, "t10k", c.test_limit);
    Dataset validation;
    if (c.validation > 0) {
      if (c.validation >= train.size()) {
        throw InvalidArgumentError(
            fmt::format("--validation: must be smaller than the {} training examples, got {}",
                        train.size(), c.validation));
      }
      validation = take(train, train.size() - c.validation, c.validation);
      train = take(train, 0, train.size() - c.validation);
    }
    if (c.normalize) {  // standardise with the training examples' pixel mean and deviation
      const double mean = reduce_mean(train.images).item();
      const double stddev = std::sqrt(reduce_mean(square(train.images - mean)).item());
      train.images = standardize(train.images, mean, stddev);
      test.images = standardize(test.images, mean, stddev);
      if (validation.size()) validation.images = standardize(validation.images, mean, stddev);
    }
    const Shape example(train.images.shape().begin() + 1, train.images.shape().end());

    nn::Sequential model(c.seed);
    build_model(model, c);
    model.build(example);
    // Every rank shuffles alike and takes its own stride of each epoch.
    Batches batches(
        train, c.batch_size / static_cast<std::size_t>(ranks.size), c.seed,
        /*shuffle=*/true, /*drop_last=*/false,
        Shard{static_cast<std::size_t>(ranks.rank), static_cast<std::size_t>(ranks.size)});
    auto opt = make_optimizer(c, batches.size());
    opt->set_clipping(make_stage(c));
    Variable global_step = create_global_step();

    std::size_t first_epoch = 0;
    const std::string ckpt = c.checkpoint_dir.empty() ? "" : c.checkpoint_dir + "/checkpoint.npz";
    if (!ckpt.empty() && ranks.root()) std::filesystem::create_directories(c.checkpoint_dir);
    const auto vars = model.trainable_variables();
    if (c.resume) {  // every rank reads the checkpoint (a file system they share)
      const auto extra = restore_training_state(ckpt, vars, *opt, global_step);
      first_epoch = static_cast<std::size_t>(extra.at("epoch").item());
    }
    Run::Compute compute = [&](const std::function<Tensor()>& loss_fn,
                               std::vector<Variable> var_list) {
      return opt->compute_gradients_and_loss(loss_fn, std::move(var_list));
    };
#ifdef TAPEFLOW_EXAMPLE_MPI
    std::optional<DistributedOptimizer> dist;
    if (c.distributed) {
      broadcast_variables(vars, 0, MPI_COMM_WORLD, c.mpi_timeout);  // all start from rank 0's
      dist.emplace(*opt, DistributedOptions().timeout_seconds(c.mpi_timeout));
      compute = [&](const std::function<Tensor()>& loss_fn, std::vector<Variable> var_list) {
        return dist->compute_gradients_and_loss(loss_fn, std::move(var_list));
      };
    }
#endif
    MetricsLog metrics(ranks.root() ? c.metrics : "", c.resume);
    if (!c.quiet) {
      fmt::print(
          "tapeflow {} on {}: {} train / {} validation / {} test examples, {} steps per epoch\n",
          c.model, c.dataset, train.size(), validation.size(), test.size(), batches.size());
      if (ranks.size > 1)
        fmt::print("data-parallel over {} ranks: {} examples per rank per step\n", ranks.size,
                   c.batch_size / static_cast<std::size_t>(ranks.size));
      fmt::print("{}", model.summary(example));
      if (first_epoch) fmt::print("resumed from {} at epoch {}\n", ckpt, first_epoch);
    }
    Run run{c,       ranks,       model, batches, *opt,
            compute, global_step, vars,  metrics, ::isatty(STDOUT_FILENO) && !c.quiet};

    double training_seconds = 0;
    for (std::size_t epoch = first_epoch; epoch < c.epochs; ++epoch) {
      const EpochResult e = train_epoch(run, epoch);
      training_seconds += e.seconds;
      const Eval ev = evaluate(model, test, ranks, c.mpi_timeout);
      const Eval val =
          validation.size() ? evaluate(model, validation, ranks, c.mpi_timeout) : Eval{};
      if (!c.quiet) {
        const std::string val_text =
            validation.size()
                ? fmt::format(" | validation loss {:.4f} acc {:.2f}%", val.loss, 100 * val.accuracy)
                : "";
        fmt::print(
            "{}epoch {}/{}: train loss {:.4f} acc {:.2f}%{} | test loss {:.4f} acc {:.2f}% | "
            "{:.1f}s, {:.0f} samples/s\n",
            run.tty ? "\r\33[2K" : "", epoch + 1, c.epochs, e.loss, 100 * e.accuracy, val_text,
            ev.loss, 100 * ev.accuracy, e.seconds, static_cast<double>(e.seen) / e.seconds);
        std::fflush(stdout);  // one line per epoch, also through a pipe
      }
      metrics.epoch(epoch + 1, global_step.value().data<std::int64_t>()[0], e.loss, e.accuracy, ev,
                    validation.size() ? &val : nullptr, e.seconds);
      if (!ckpt.empty() && ranks.root()) {
        save_training_state(ckpt, vars, *opt, global_step,
                            {{"epoch", Tensor(static_cast<std::int64_t>(epoch + 1))}});
      }
    }
    const Eval final_eval = evaluate(model, test, ranks, c.mpi_timeout);
#ifdef TAPEFLOW_EXAMPLE_MPI
    if (c.distributed) {  // the ranks must have applied the same updates, bit for bit
      const VariablesDigest d = digest_variables(vars, MPI_COMM_WORLD, c.mpi_timeout);
      if (!d.identical_on_all_ranks) {
        throw Error(
            fmt::format("--distributed: the ranks' variables differ after training "
                        "(rank {} has crc32 {:08x})",
                        ranks.rank, d.crc));
      }
      if (ranks.root())
        fmt::print("variables identical on all {} ranks (crc32 {:08x})\n", ranks.size, d.crc);
    }
#endif
    if (!c.quiet) print_report(final_eval, c.dataset);
    if (ranks.root()) {
      fmt::print("training time: {:.1f} s for {} epochs\n", training_seconds,
                 c.epochs - first_epoch);
      fmt::print("test accuracy: {:.2f}% ({} examples)\n", 100 * final_eval.accuracy, test.size());
    }
  } catch (const std::exception& e) {  // tapeflow, filesystem and I/O errors: one line
    if (ranks.size > 1) {
      fmt::print(stderr, "mnist (rank {} of {}): {}\n", ranks.rank, ranks.size, e.what());
#ifdef TAPEFLOW_EXAMPLE_MPI
      mpi::abort(1);  // the other ranks must not wait for this one
#endif
    }
    fmt::print(stderr, "mnist: {}\n", e.what());
    return 1;
  }
  return 0;
}
