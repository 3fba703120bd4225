#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets into tests/fuzz/corpus/ (run
once; the files are committed). Seeds are small valid inputs plus the inputs
of every defect found so far (named after it), so `make test` replays both.

usage: make_seeds.py [CORPUS_DIR]
"""
import gzip
import io
import os
import struct
import sys
import zlib

import numpy as np

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus")


def put(target, name, data):
    os.makedirs(os.path.join(root, target), exist_ok=True)
    with open(os.path.join(root, target, name), "wb") as f:
        f.write(data)


def idx(dims, payload):
    return bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload


def npy(array):
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def npy_raw(header, data):
    h = header.encode() + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h + data


def npz(entries, tag=True):
    """A stored zip like tapeflow's save_npz: sorted names, fixed date, and
    with `tag` the whole-file CRC-32 in the archive comment."""
    z, central = b"", b""
    for name in sorted(entries):
        data, fname = entries[name], (name + ".npy").encode()
        crc = zlib.crc32(data)
        offset = len(z)
        z += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 33, crc, len(data), len(data),
                         len(fname), 0) + fname + data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 33, crc,
                               len(data), len(data), len(fname), 0, 0, 0, 0, 0, offset) + fname
    cd = len(z)
    z += central + struct.pack("<IHHHHII", 0x06054B50, 0, 0, len(entries), len(entries),
                               len(central), cd)
    comment = ("tapeflow-crc32:%08x" % zlib.crc32(z)).encode() if tag else b""
    return z + struct.pack("<H", len(comment)) + comment


# IDX: valid raw and gzip files, and the defects.
images = idx([2, 2, 2], bytes(range(8)))
put("idx", "seed-images-raw", images)
put("idx", "seed-images-gz", gzip.compress(images))
put("idx", "seed-labels", idx([4], bytes([1, 2, 3, 4])))
put("idx", "seed-truncated", images[:-3])
put("idx", "defect-dims-product-wraps", idx([1 << 24] * 3, b""))
put("idx", "defect-dims-16x2^30x2^30", idx([16, 1 << 30, 1 << 30], b""))
put("idx", "defect-gzip-bad-magic-then-zeros", gzip.compress(b"\x01\x02\x08\x01" + bytes(1 << 16)))

# npz: a valid file, a NumPy-written one (no tag), and the defects.
w = np.arange(6, dtype=np.float32).reshape(2, 3)
put("npz", "seed-tagged", npz({"vars/w": npy(w), "i": npy(np.array(7, dtype=np.int64))}))
buf = io.BytesIO()
np.savez(buf, w=w)
put("npz", "seed-numpy-savez", buf.getvalue())
f4 = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }"
put("npz", "defect-shape-2^62-no-data", npz({"w": npy_raw(f4 % "4611686018427387904,", b"")}))
put("npz", "defect-shape-2^62+1-4-bytes", npz({"w": npy_raw(f4 % "4611686018427387905,", bytes(4))}))
put("npz", "defect-dim-above-2^64", npz({"w": npy_raw(f4 % "99999999999999999999,", b"")}))
put("npz", "defect-header-65000-spaces",
    npz({"w": npy_raw(f4 % "1," + " " * 65000, bytes(4))}))

# Checkpoints for the fuzz_checkpoint model: w [2, 2], b [2] (float64), Adam, global step.
f8 = lambda a: npy(np.asarray(a, dtype=np.float64))
state = {
    "vars/w": f8([[0.5, -0.5], [0.25, 1.0]]), "vars/b": f8([0.0, 0.0]),
    "global_step": npy(np.array(3, dtype=np.int64)),
    "optimizer/type": npy(np.array([ord(c) for c in "Adam"], dtype=np.int64)),
    "optimizer/iterations": npy(np.array(3, dtype=np.int64)),
    "optimizer/beta1_power": f8(0.9 ** 4), "optimizer/beta2_power": f8(0.999 ** 4),
    "optimizer/w/m": f8([[0.1, 0.1], [0.1, 0.1]]), "optimizer/w/v": f8([[0.01] * 2] * 2),
    "optimizer/b/m": f8([0.1, 0.1]), "optimizer/b/v": f8([0.01, 0.01]),
}
put("checkpoint", "seed-adam-step3", npz(state))
put("checkpoint", "seed-untagged", npz(state, tag=False))
other = dict(state, **{"optimizer/type": npy(np.array([ord(c) for c in "Momentum"], dtype=np.int64))})
put("checkpoint", "seed-other-optimizer", npz(other))
big = dict(state, **{"optimizer/iterations": npy(np.array(2**63 - 1, dtype=np.int64)),
                     "global_step": npy(np.array(2**63 - 1, dtype=np.int64))})
put("checkpoint", "defect-counters-at-int64-max", npz(big))
print("make_seeds: wrote", root)
