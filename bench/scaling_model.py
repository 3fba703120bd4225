#!/usr/bin/env python3
"""The arithmetic of docs/scaling.md: step time and scaling efficiency of
data-parallel training with a ring allreduce, for N workers, from a compute
time per step and the network's bandwidth and latency.

Ring allreduce of B bytes over N workers: each worker sends and receives
2(N-1)/N * B bytes, in 2(N-1) messages per bucket, so one bucket of b bytes
costs   t(b) = 2(N-1)/N * b / bandwidth + 2(N-1) * latency.

Without overlap the step is  compute + sum over buckets of t(b).
With overlap, buckets whose gradients are final during the backward pass
are reduced while it runs; what cannot hide is whatever exceeds the window
(the backward time after the first bucket is ready), and at least the last
bucket, which is ready only when the backward pass ends:
    exposed = max(sum_{all but last} t(b) - window, 0) + t(last).
Efficiency = compute / step time (weak scaling: a fixed batch per worker).

Usage: bench/scaling_model.py [cnn_step_seconds]   (default: the figure in docs/scaling.md)
"""
import sys

GBIT = 1e9 / 8  # bytes per second in one Gbit/s


def ring_seconds(bucket_bytes, n, bandwidth, latency):
    if n == 1:
        return 0.0
    return 2 * (n - 1) / n * bucket_bytes / bandwidth + 2 * (n - 1) * latency


def step(compute, buckets, window, n, bandwidth, latency, overlap):
    times = [ring_seconds(b, n, bandwidth, latency) for b in buckets]
    if not overlap:
        return compute + sum(times)
    return compute + max(sum(times[:-1]) - window, 0.0) + times[-1]


def main():
    cnn_step = float(sys.argv[1]) if len(sys.argv) > 1 else 0.055
    cnn_params = (5 * 5 * 1 * 32 + 32) + (5 * 5 * 32 * 64 + 64) + (3136 * 256 + 256) + (256 * 10 + 10)
    models = {
        # name: (compute seconds per step, bucket sizes in bytes (first reduced first),
        #        overlap window in seconds)
        # MNIST CNN, batch 64 per worker: the measured step on one core. Buckets
        # as DDP/tapeflow would cut them at 1 MiB: the two dense layers' 3.2 MB
        # (ready after the dense backward), then the convolutions' 0.2 MB (ready
        # at the end). Window: the convolutions' backward, taken as half the step.
        "MNIST CNN": (cnn_step, [4 * (3136 * 256 + 256 + 256 * 10 + 10),
                                 4 * (5 * 5 * 1 * 32 + 32 + 5 * 5 * 32 * 64 + 64)], cnn_step / 2),
        # 100M parameters, fp32 gradients: 400 MB in 16 buckets of 25 MB. Compute:
        # 6 * params * tokens FLOPs for 4,096 tokens per worker at an achieved
        # 2 TFLOP/s (a 2-socket CPU server) = 1.23 s. Window: backward = 2/3 of
        # the step, less the time until the first bucket is ready (1/16 of it).
        "100M params": (6 * 100e6 * 4096 / 2e12, [25e6] * 16, 6 * 100e6 * 4096 / 2e12 * 2 / 3 * 15 / 16),
    }
    nets = {"10 Gbit/s": (10 * GBIT, 20e-6), "100 Gbit/s": (100 * GBIT, 5e-6)}
    print(f"MNIST CNN: {cnn_params:,} parameters = {4 * cnn_params / 1e6:.2f} MB of fp32 gradients")
    print(f"{'model':<12} {'network':<11} {'N':>4} {'comm ms':>9} {'step ms':>9} {'eff':>6}"
          f" {'step ms (overlap)':>18} {'eff':>6}")
    for name, (compute, buckets, window) in models.items():
        for net, (bw, lat) in nets.items():
            for n in (8, 64, 512):
                comm = sum(ring_seconds(b, n, bw, lat) for b in buckets)
                plain = step(compute, buckets, window, n, bw, lat, False)
                over = step(compute, buckets, window, n, bw, lat, True)
                print(f"{name:<12} {net:<11} {n:>4} {comm * 1e3:9.2f} {plain * 1e3:9.1f}"
                      f" {compute / plain:6.1%} {over * 1e3:18.1f} {compute / over:6.1%}")


if __name__ == "__main__":
    main()
