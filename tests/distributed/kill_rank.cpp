// Run under `mpirun -np 2`: rank 1 dies (kill) or stops answering (stall) at
// step 5 of a training loop; rank 0 must not wait forever. Driven by
// tests/distributed/kill_rank.cmake, which checks how and how fast the job ends.
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <tapeflow/distributed/distributed.hpp>
#include <tapeflow/tapeflow.hpp>

using namespace tapeflow;

int main(int argc, char** argv) {
  mpi::Environment env(argc, argv);
  const bool kill = argc > 1 && std::strcmp(argv[1], "kill") == 0;
  const int rank = mpi::rank();
  Variable w(Tensor::from_vector(std::vector<double>{0.5, -0.5}, {2}), "w");
  SGD sgd(0.1);
  DistributedOptimizer opt(sgd, DistributedOptions().timeout_seconds(3));
  const Tensor x = Tensor::from_vector(std::vector<double>{1.0 + rank, 2.0}, {2});
  try {
    for (int step = 0; step < 1000000; ++step) {
      if (rank == 1 && step == 5) {
        std::fprintf(stderr, "rank 1: %s at step 5\n", kill ? "dying" : "stalling");
        std::fflush(stderr);
        raise(kill ? SIGKILL : SIGSTOP);
      }
      opt.minimize([&] { return reduce_sum(square(w * x)); }, nullptr, {w});
    }
  } catch (const CommunicationError& e) {
    std::fprintf(stderr, "rank %d: CommunicationError: %s\n", rank, e.what());
    mpi::abort(3);
  }
  return 0;
}
