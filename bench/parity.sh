#!/usr/bin/env bash
# Accuracy parity: each configuration trained by tapeflow's mnist example and by
# bench/parity.py (PyTorch), same data, model, batch, optimizer and clipping.
# Prints a Markdown table. Takes a while (the full 60,000 / 10,000 sets): run it
# by hand. FASHION=1 adds the Fashion-MNIST configurations.
# Usage: bench/parity.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
echo "| dataset | model | epochs | tapeflow test acc | PyTorch test acc | tapeflow s | PyTorch s |"
echo "|---|---|---|---|---|---|---|"
configs=("mnist cnn 3" "mnist mlp 10")
[[ ${FASHION:-0} == 1 ]] && configs+=("fashion mlp 5" "fashion cnn 5")
for cfg in "${configs[@]}"; do
  read -r ds model epochs <<< "$cfg"
  start=$(date +%s)
  ours=$("$build/examples/mnist" --dataset "$ds" --model "$model" --epochs "$epochs" --threads 2 --quiet | sed -n 's/test accuracy: \([0-9.]*\)%.*/\1/p')
  ours_s=$(( $(date +%s) - start ))
  read -r _ _ _ theirs theirs_s <<< "$(/usr/bin/python3 bench/parity.py --dataset "$ds" --model "$model" --epochs "$epochs")"
  echo "| $ds | $model | $epochs | $ours% | $theirs% | $ours_s | $theirs_s |"
done
