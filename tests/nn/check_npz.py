#!/usr/bin/env python3
"""Loads a checkpoint written by the mnist example with NumPy and checks its contents."""
import sys

import numpy as np

z = np.load(sys.argv[1])
names = set(z.files)
kernel = z["vars/layer0_conv2d/kernel"]
assert kernel.dtype == np.float32 and kernel.shape == (5, 5, 1, 32), (kernel.dtype, kernel.shape)
assert z["global_step"].dtype == np.int64 and z["global_step"].shape == ()
assert int(z["global_step"]) == 16, int(z["global_step"])  # 2 epochs of 512 / 64
assert "".join(map(chr, z["optimizer/type"])) == "Adam"
assert int(z["extra/epoch"]) == 2
for slot in ("m", "v"):
    assert z[f"optimizer/layer0_conv2d/kernel/{slot}"].shape == kernel.shape
assert 0 < float(z["optimizer/beta1_power"]) < 1
assert np.isfinite(kernel).all()
print(f"numpy read {len(names)} arrays")
