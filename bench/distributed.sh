#!/bin/sh
# Data-parallel figures on this machine, in one run (docs/scaling.md reads them):
# one process with 1 and with 2 threads, then 2 processes with 1 thread each
# (allreduce bandwidth, then steps with overlapped and blocking allreduce),
# with OpenMPI's default non-blocking allreduce and with its ring algorithm,
# and with 25 MiB and 1 MiB buckets.
# Usage: bench/distributed.sh [build dir=build] [seconds per figure=3]
set -eu
build=${1:-build}
seconds=${2:-3}
bin=$build/bench/distributed_bench
[ -x "$bin" ] || { echo "build it first: make bench-distributed" >&2; exit 1; }
cores=$(getconf _NPROCESSORS_ONLN)
export OMPI_MCA_plm_rsh_agent=${OMPI_MCA_plm_rsh_agent-false} OMP_NUM_THREADS=1
root=""
[ "$(id -u)" = 0 ] && root=--allow-run-as-root
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $cores cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(mpirun --version | head -1)"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
mpirun -np 1 --bind-to none $root "$bin" "$seconds" 3 steps 1
mpirun -np 1 --bind-to none $root "$bin" "$seconds" 3 steps 2  # mpirun binds one process to one core otherwise
echo "# 2 processes, OpenMPI's default choice of non-blocking allreduce algorithm"
mpirun -np 2 --oversubscribe $root "$bin" "$seconds" 3 all 1
echo "# 2 processes, --mca coll_libnbc_iallreduce_algorithm 1 (ring)"
mpirun -np 2 --oversubscribe --mca coll_libnbc_iallreduce_algorithm 1 $root "$bin" "$seconds" 3 all 1
echo "# the same, 1 MiB buckets"
mpirun -np 2 --oversubscribe --mca coll_libnbc_iallreduce_algorithm 1 $root "$bin" "$seconds" 3 steps 1 1048576
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
