#!/usr/bin/env python3
"""Draws the mnist example's metrics CSV as a PNG: loss and accuracy curves.

usage: plot_metrics.py METRICS.csv OUT.png
Uses Debian's python3-matplotlib (Agg backend, no display needed). Reads
well for one epoch (points labelled, a linear loss axis when the loss spans
less than a decade) as for many.
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402


def number(row, key):
    value = row.get(key, "")
    return float(value) if value not in ("", "nan") else None


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
    smooth = [sum(loss[max(0, i - window + 1):i + 1]) / len(loss[max(0, i - window + 1):i + 1])
              for i in range(len(loss))]
    few = len(epochs) <= 3  # label every point when there are only a few

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ax1.plot(x, loss, color="0.8", linewidth=0.6, label="batch loss")
    ax1.plot(x, smooth, color="C0", label=f"batch loss, mean of {window} steps")
    ex = [int(r["step"]) for r in epochs]
    test_loss = [float(r["test_loss"]) for r in epochs]
    ax1.plot(ex, test_loss, "o-", color="C3", label="test loss, end of epoch")
    if few:
        for xi, yi in zip(ex, test_loss):
            ax1.annotate(f"{yi:.3f}", (xi, yi), textcoords="offset points", xytext=(-8, 8),
                         ha="right", color="C3")
    # A log axis only when the loss spans a decade or more (judged on the
    # smoothed curve and the test loss, which is what the eye follows).
    positive = [v for v in smooth + test_loss if v > 0]
    if positive and max(positive) / min(positive) >= 10:
        ax1.set_yscale("log")
    ax1.set_xlabel("step")
    ax1.set_ylabel("cross-entropy")
    ax1.legend()
    ax1.grid(alpha=0.3)

    ep = [int(r["epoch"]) for r in epochs]
    series = [("train (with dropout)", "train_acc", "C0"), ("test", "test_acc", "C3")]
    if any(number(r, "val_acc") is not None for r in epochs):
        series.insert(1, ("validation", "val_acc", "C2"))
    for label, key, color in series:
        ys = [100 * number(r, key) for r in epochs if number(r, key) is not None]
        if not ys:
            continue
        ax2.plot(ep[:len(ys)], ys, "o-", color=color, label=label)
        if few:
            for xi, yi in zip(ep, ys):
                ax2.annotate(f"{yi:.2f}%", (xi, yi), textcoords="offset points", xytext=(6, -4),
                             color=color)
    ax2.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    if ep:
        # Room on the right for the point labels.
        ax2.set_xlim(min(ep) - (1 if len(ep) == 1 else 0.3), max(ep) + (1 if len(ep) == 1 else 0.5))
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("accuracy %")
    ax2.legend(loc="center right" if len(ep) == 1 else "lower right")
    ax2.grid(alpha=0.3)

    grad = [float(r["grad_norm"]) for r in steps if r["grad_norm"] not in ("", "nan")]
    title = ""
    if epochs:
        n = len(epochs)
        title = (f"{n} epoch{'s' if n != 1 else ''}, "
                 f"final test accuracy {100 * float(epochs[-1]['test_acc']):.2f}%")
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
