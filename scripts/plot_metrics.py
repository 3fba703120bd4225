#!/usr/bin/env python3
"""Draws the mnist example's metrics CSV as a PNG: loss and accuracy curves.

usage: plot_metrics.py METRICS.csv OUT.png
Uses Debian's python3-matplotlib (Agg backend, no display needed).
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(src, out):
    steps, epochs = [], []
    with open(src) as f:
        for row in csv.DictReader(f):
            (steps if row["kind"] == "step" else epochs).append(row)
    if not steps:
        sys.exit(f"plot_metrics: no step rows in {src}")
    per_epoch = max(1, len(steps) // max(1, len(epochs)))
    x = [int(r["step"]) for r in steps]
    loss = [float(r["loss"]) for r in steps]
    window = max(1, per_epoch // 5)
    smooth = [sum(loss[max(0, i - window + 1):i + 1]) / len(loss[max(0, i - window + 1):i + 1]) for i in range(len(loss))]
    ex = [int(r["step"]) for r in epochs]

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ax1.plot(x, loss, color="0.8", linewidth=0.6, label="batch loss")
    ax1.plot(x, smooth, color="C0", label=f"batch loss, mean of {window}")
    ax1.plot(ex, [float(r["test_loss"]) for r in epochs], "o-", color="C3", label="test loss")
    ax1.set_yscale("log")
    ax1.set_xlabel("step")
    ax1.set_ylabel("cross-entropy")
    ax1.legend()
    ax1.grid(alpha=0.3)
    ep = [int(r["epoch"]) for r in epochs]
    ax2.plot(ep, [100 * float(r["train_acc"]) for r in epochs], "o-", label="train (with dropout)")
    ax2.plot(ep, [100 * float(r["test_acc"]) for r in epochs], "o-", color="C3", label="test")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("accuracy %")
    ax2.legend()
    ax2.grid(alpha=0.3)
    grad = [float(r["grad_norm"]) for r in steps if r["grad_norm"] not in ("", "nan")]
    title = f"{len(epochs)} epochs, final test accuracy {100 * float(epochs[-1]['test_acc']):.2f}%" if epochs else ""
    if grad:
        title += f"; median global gradient norm {sorted(grad)[len(grad) // 2]:.2f}"
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"plot_metrics: wrote {out}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
