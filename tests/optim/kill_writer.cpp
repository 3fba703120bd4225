// Crash safety of checkpoints, proven by force. `kill_writer PATH` (the ctest):
//  1. computes in-process the states a fixed training run passes through;
//  2. 60 times (seeded): starts itself as a child that trains and saves a
//     checkpoint to PATH after every step, SIGKILLs it at a random moment,
//     and restores PATH: it must load, and equal one of the states from 1,
//     never a mix;
//  3. checks that at most one temporary file is left beside PATH (each save
//     removes those of killed writers).
// Then flips every byte of a valid checkpoint in turn: each flip must be a
// DataError. Exit 0 on success; prints "N passed, 0 failed".
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <tapeflow/tapeflow.hpp>
#include <thread>
#include <vector>

using namespace tapeflow;
namespace fs = std::filesystem;

namespace {
constexpr int kSteps = 400;

struct Model {
  Variable w{Tensor({0.5, -0.5, 0.25, 1.0}, DType::float64), "w"};
  Adam opt{AdamOptions(0.01)};
  Variable step = create_global_step();
  void train_step() {
    const Tensor x = Tensor({1.0, 2.0, -1.0, 0.5}, DType::float64);
    opt.minimize([&] { return reduce_sum(square(w * x - 1.0)); }, &step, {w});
  }
};

[[noreturn]] void child(const std::string& path) {
  Model m;
  for (int s = 0; s < kSteps; ++s) {
    m.train_step();
    save_training_state(path, {m.w}, m.opt, m.step);
  }
  _exit(0);
}

int failures = 0, passes = 0;
void check(bool ok, const std::string& what) {
  if (ok) {
    ++passes;
  } else {
    ++failures;
    std::fprintf(stderr, "FAILED: %s\n", what.c_str());
  }
}
}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "child") child(argv[2]);
  if (argc != 2) {
    std::fprintf(stderr, "usage: kill_writer PATH\n");
    return 2;
  }
  const std::string path = argv[1];
  fs::create_directories(fs::path(path).parent_path());
  for (const auto& e : fs::directory_iterator(fs::path(path).parent_path())) fs::remove(e.path());

  // 1. Every state of the run: step -> w.
  std::map<std::int64_t, std::vector<double>> states;
  {
    Model m;
    for (int s = 0; s < kSteps; ++s) {
      m.train_step();
      states[s + 1] = m.w.value().to_vector();
    }
  }

  // 2. Kill the writer at random moments.
  Rng rng(2026);
  int restored = 0;
  for (int round = 0; round < 60; ++round) {
    const pid_t pid = fork();
    if (pid == 0) {
      execl("/proc/self/exe", argv[0], "child", path.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(2000 + rng.below(60000)));
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    if (!fs::exists(path)) continue;  // killed before its first save
    Model m;
    try {
      restore_training_state(path, {m.w}, m.opt, m.step);
    } catch (const Error& e) {
      check(false, std::string("round ") + std::to_string(round) + ": " + e.what());
      continue;
    }
    const std::int64_t step = m.step.value().data<std::int64_t>()[0];
    const auto it = states.find(step);
    check(it != states.end() && it->second == m.w.value().to_vector() && m.opt.iterations() == step,
          "round " + std::to_string(round) + ": restored state is none of the saved ones");
    ++restored;
  }
  check(restored >= 30, "at least 30 of 60 kills left a checkpoint behind to restore");
  std::size_t temporaries = 0;
  for (const auto& e : fs::directory_iterator(fs::path(path).parent_path())) {
    temporaries += e.path().filename().string().find(".tmp.") != std::string::npos;
  }
  {
    Model m;  // one more save cleans up after the last killed writer
    m.train_step();
    save_training_state(path, {m.w}, m.opt, m.step);
  }
  std::size_t after = 0;
  for (const auto& e : fs::directory_iterator(fs::path(path).parent_path())) {
    after += e.path().filename().string().find(".tmp.") != std::string::npos;
  }
  check(after == 0, "a save removes the temporaries of killed writers (" +
                        std::to_string(temporaries) + " before, " + std::to_string(after) +
                        " after)");

  // 3. Every single-byte flip of a valid checkpoint is rejected.
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string flipped = path + ".flipped";
  int rejected = 0;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    std::string b = bytes;
    b[i] = static_cast<char>(b[i] ^ (1 << (i % 8)));
    std::ofstream(flipped, std::ios::binary) << b;
    Model m;
    try {
      restore_training_state(flipped, {m.w}, m.opt, m.step);
      check(false, "a flip of byte " + std::to_string(i) + " was accepted");
    } catch (const DataError&) {
      ++rejected;
    } catch (const std::exception& e) {
      check(false, "byte " + std::to_string(i) + ": not a DataError: " + e.what());
    }
  }
  check(rejected == static_cast<int>(bytes.size()) && bytes.size() >= 200,
        "every one of the " + std::to_string(bytes.size()) + " byte flips is a DataError");
  std::printf("kill_writer: %d checkpoints restored after SIGKILL, %d byte flips rejected\n",
              restored, rejected);
  std::printf("%d passed, %d failed\n", passes, failures);
  return failures == 0 ? 0 : 1;
}
