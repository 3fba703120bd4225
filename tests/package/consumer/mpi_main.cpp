// Links against the installed mpi component: taking the address of a
// function forces the linker to resolve it (the program is not run under mpirun).
#include <tapeflow/distributed/distributed.hpp>

int main() {
  auto* volatile resolved = &tapeflow::broadcast_variables;
  return resolved ? 0 : 1;
}
