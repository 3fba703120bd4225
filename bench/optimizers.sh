#!/usr/bin/env bash
# Trains the mnist example's MLP once with each optimizer and prints one line
# per optimizer: test accuracy and seconds. Usage:
#   bench/optimizers.sh [BUILD_DIR] [EPOCHS]      (defaults: build, 3)
# Each optimizer gets a learning rate in its usual range; everything else is
# the example's default (batch 64, per-epoch decay 0.85, clip_by_global_norm 5).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
epochs=${2:-3}
declare -A lr=([sgd]=0.1 [momentum]=0.01 [adam]=0.001 [adamw]=0.001 [adagrad]=0.05
               [rmsprop]=0.001 [adadelta]=1.0)
printf '%-9s %8s %9s  %s\n' optimizer lr accuracy seconds
for opt in sgd momentum adam adamw adagrad rmsprop adadelta; do
  extra=()
  [[ $opt == adamw ]] && extra=(--weight-decay 1e-4)
  start=$(date +%s%N)
  out=$("$build/examples/mnist" --model mlp --optimizer "$opt" --lr "${lr[$opt]}" \
        --epochs "$epochs" --quiet "${extra[@]}" 2>&1 | tail -n 1)
  secs=$(( ($(date +%s%N) - start) / 1000000000 ))
  printf '%-9s %8s %9s  %s\n' "$opt" "${lr[$opt]}" "$(echo "$out" | grep -o '[0-9.]*%')" "$secs"
done
