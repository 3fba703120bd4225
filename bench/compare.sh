#!/usr/bin/env bash
# make compare: tapeflow beside LibTorch (Debian libtorch-dev, C++) and PyTorch
# (python3-torch) on the same training steps, interleaved in one run, at 1 and 2
# threads; LibTorch also in its best 2-thread environment. Prints the medians
# and the ratios (tapeflow / peer: above 1 is tapeflow faster), the load
# average around each figure, then the micro-benchmarks of bench/run.sh (tape
# overhead, Adam and clip bandwidth against the memory-copy roof).
# Usage: bench/compare.sh [build dir=build] [reps=5] [seconds per rep=1.0]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
reps=${2:-5}
seconds=${3:-1.0}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export OMP_NUM_THREADS=1
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(getconf _NPROCESSORS_ONLN) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
run() {  # name, command...: one figure, with the load average before it
  local name=$1
  shift
  echo "$name load $(cut -d' ' -f1 /proc/loadavg)" >> "$out/load"
  "$@" > "$out/$name" 2>&1 || { echo "$name failed:"; cat "$out/$name"; exit 1; }
}
for round in 1 2; do
  for t in 1 2; do
    run "tapeflow.$t.$round" env OMP_NUM_THREADS=$t "$build/bench/step_bench" "$reps" "$seconds" "$t"
    run "libtorch.$t.$round" env OMP_NUM_THREADS=$t "$build/bench/libtorch_step" "$reps" "$seconds" "$t"
    run "pytorch.$t.$round" env OMP_NUM_THREADS=$t /usr/bin/python3 bench/torch_step.py "$reps" "$seconds" "$t"
  done
  run "libtorch_best.2.$round" env OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE \
    "$build/bench/libtorch_step" "$reps" "$seconds" 2
done
/usr/bin/python3 - "$out" <<'PY'
import glob, os, re, statistics, sys
out = sys.argv[1]
fig = {}  # (peer, threads) -> {workload: [steps/s of each round]}
rss = {}
for path in glob.glob(f"{out}/*.*.*"):
    peer, threads, _ = os.path.basename(path).split(".")
    for line in open(path):
        m = re.match(r"(.+?)\s+([\d.]+) steps/s.*peak RSS (\d+) MB", line)
        if m:
            fig.setdefault((peer, threads), {}).setdefault(m[1], []).append(float(m[2]))
            rss[(peer, m[1])] = max(rss.get((peer, m[1]), 0), int(m[3]))
loads = [float(l.split()[-1]) for l in open(f"{out}/load")]
work = ["W1 mlp/32", "W2 mlp/256", "CNN/64", "MNIST-CNN/64"]
med = lambda peer, t, w: statistics.median(fig.get((peer, t), {}).get(w, [float("nan")]))
print(f"steps/s, median of 2 rounds x medians of reps; neighbours' load average before each figure: "
      f"{min(loads):.2f}-{max(loads):.2f}")
print(f"{'workload':<14}{'thr':>4}{'tapeflow':>10}{'LibTorch':>10}{'LT best':>9}{'PyTorch':>9}"
      f"{'vs LT':>8}{'vs best':>8}{'vs Py':>7}")
for w in work:
    for t in ("1", "2"):
        tf, lt, py = med("tapeflow", t, w), med("libtorch", t, w), med("pytorch", t, w)
        best = med("libtorch_best", t, w) if t == "2" else float("nan")
        ref = max(lt, best) if t == "2" else lt
        print(f"{w:<14}{t:>4}{tf:>10.1f}{lt:>10.1f}{best:>9.1f}{py:>9.1f}{tf / lt:>7.2f}x"
              f"{(tf / ref if t == '2' else float('nan')):>7.2f}x{tf / py:>6.2f}x")
roof = med("tapeflow", "1", "W2 sgemm roof")
print(f"W2 step at 1 thread: {100 * med('tapeflow', '1', 'W2 mlp/256') / roof:.0f}% of its sgemm roof "
      f"({roof:.1f} steps/s if only the step's matrix products took time)")
print("2 threads / 1 thread, tapeflow: " + ", ".join(
    f"{w} {med('tapeflow', '2', w) / med('tapeflow', '1', w):.2f}x" for w in work))
print("peak RSS (MB), tapeflow / LibTorch / PyTorch: " + ", ".join(
    f"{w} {rss.get(('tapeflow', w), 0)}/{rss.get(('libtorch', w), 0)}/{rss.get(('pytorch', w), 0)}" for w in work))
PY
echo
# Compile time of the same small training script (bench/compile/) against
# each C++ package: one translation unit, -O2, median of 3 (ccache bypassed).
compile_seconds() {  # source, flags...
  /usr/bin/python3 - "$out/compile.o" "$@" <<'PY'
import subprocess, sys, time
out, src, *flags = sys.argv[1:]
times = []
for _ in range(3):
    t0 = time.perf_counter()
    subprocess.run(["g++", "-std=c++17", "-O2", "-c", src, "-o", out, *flags], check=True)
    times.append(time.perf_counter() - t0)
print(f"{sorted(times)[1]:.2f}")
PY
}
tf_s=$(compile_seconds bench/compile/train_tapeflow.cpp -I"$build/include" -DFMT_SHARED)
lt_s=$(compile_seconds bench/compile/train_libtorch.cpp -I/usr/include/torch/csrc/api/include \
  -Wno-deprecated-declarations)
/usr/bin/python3 -c "import sys; t, l = map(float, sys.argv[1:]); print(f'compile time of a training script (bench/compile/, g++ -O2 -c, median of 3): tapeflow {t:.1f} s, LibTorch {l:.1f} s ({l / t:.1f}x)')" "$tf_s" "$lt_s"
echo
echo "# micro-benchmarks (bench/run.sh), 1 and 2 threads"
THREADS=1 bench/run.sh "$build"
THREADS=2 bench/run.sh "$build"
