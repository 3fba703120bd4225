#!/usr/bin/env bash
# Runs tapeflow's benchmarks and the same workloads in LibTorch and PyTorch in
# one go, and prints the ratios (absolute times on a shared machine are noise).
# Usage: bench/run.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
threads=${THREADS:-2}
export OMP_NUM_THREADS=$threads
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

"$build/bench/tapeflow_bench" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
  --benchmark_format=json > "$out/tapeflow.json"
if [[ -x "$build/bench/libtorch_bench" ]]; then
  "$build/bench/libtorch_bench" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
    --benchmark_format=json > "$out/libtorch.json"
fi
/usr/bin/python3 bench/torch_bench.py "$threads" > "$out/torch.json" || echo '{}' > "$out/torch.json"

/usr/bin/python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
def medians(path):
    if not os.path.exists(path):
        return {}
    runs = json.load(open(path))["benchmarks"]
    return {r["run_name"]: r for r in runs if r.get("aggregate_name") == "median"}
tf = medians(f"{out}/tapeflow.json")
lt = medians(f"{out}/libtorch.json")
pt = json.load(open(f"{out}/torch.json"))
copy = tf["BM_Copy/real_time"]["GB/s"]
def row(name, ours, theirs, unit, better_low=False):
    ratio = (theirs / ours if better_low else ours / theirs) if theirs else float("nan")
    print(f"{name:<44} {ours:>9.3f} {theirs if theirs else float('nan'):>9.3f} {unit:<6} {ratio:>6.2f}x")
print(f"threads={os.environ.get('OMP_NUM_THREADS')}  copy bandwidth {copy:.1f} GB/s  torch {pt.get('torch_version', 'n/a')}")
print(f"{'workload':<44} {'tapeflow':>9} {'torch':>9} {'unit':<6} {'ratio':>7}")
ours = tf["BM_TapeChain"]["s_per_op"] * 1e6
theirs = lt.get("BM_TorchTapeChain", {}).get("s_per_op", 0) * 1e6
row("tape: 1000 ops on 16 floats, fwd+bwd, per op", ours, theirs, "us", better_low=True)
for name, key in (("Adam, 16M params in 1 variable", "BM_Adam/1/real_time"),
                  ("Adam, 16M params in 100 variables", "BM_Adam/100/real_time")):
    ours = tf[key]["GB/s"]
    row(name, ours, pt.get("adam_1" if key.startswith("BM_Adam/1/") else "adam_100"), "GB/s")
    print(f"{'':<44} {100 * ours / copy:>8.0f}% of copy bandwidth")
ours = tf["BM_ClipByGlobalNorm/real_time"]["GB/s"]
row("clip stage by_global_norm, 10 x 1.6M floats", ours, pt.get("clip_grad_norm"), "GB/s")
print(f"{'':<44} {100 * ours / copy:>8.0f}% of copy bandwidth")
loop = tf["BM_ClipTwoPassLoop/real_time"]["GB/s"]
print(f"{'':<44} {100 * ours / loop:>8.0f}% of a plain two-pass C loop ({loop:.1f} GB/s)")
ours = tf["BM_ClipByGlobalNormFunctional/real_time"]["GB/s"]
row("clip_by_global_norm (new tensors), same", ours, pt.get("clip_grad_norm"), "GB/s")
print(f"{'':<44} {100 * ours / copy:>8.0f}% of copy bandwidth")
print("ratio: how many times faster tapeflow is (per-op time for the tape; GB/s otherwise)")
PY
