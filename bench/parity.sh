#!/usr/bin/env bash
# Accuracy parity: each configuration trained by tapeflow's mnist example and by
# bench/parity.py (PyTorch), same data, model, batch, optimizer and clipping.
# Prints a Markdown table. Takes a while (full Fashion-MNIST): run it by hand.
# Usage: bench/parity.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
echo "| dataset | model | epochs | tapeflow test acc | PyTorch test acc | tapeflow s | PyTorch s |"
echo "|---|---|---|---|---|---|---|"
for cfg in "mnist cnn 10" "mnist mlp 10" "fashion mlp 5" "fashion cnn 5"; do
  read -r ds model epochs <<< "$cfg"
  start=$(date +%s)
  ours=$("$build/examples/mnist" --dataset "$ds" --model "$model" --epochs "$epochs" --quiet | sed -n 's/test accuracy: \([0-9.]*\)%.*/\1/p')
  ours_s=$(( $(date +%s) - start ))
  read -r _ _ _ theirs theirs_s <<< "$(/usr/bin/python3 bench/parity.py --dataset "$ds" --model "$model" --epochs "$epochs")"
  echo "| $ds | $model | $epochs | $ours% | $theirs% | $ours_s | $theirs_s |"
done
