#!/usr/bin/env python3
"""PyTorch side of the comparisons (Debian's python3-torch), same sizes as tapeflow_bench.

Prints one JSON object: GB/s for torch.optim.Adam (foreach) on 16M float32
parameters in 1 and in 100 tensors, and for torch.nn.utils.clip_grad_norm_ over
10 tensors totalling 16M floats, counting bytes as tapeflow_bench does.
"""
import json
import sys
import time

import torch

TOTAL = 1 << 24


def best_time(fn, repeat=12, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]  # median


def adam(count):
    params = [torch.full((TOTAL // count,), 0.5, requires_grad=True) for _ in range(count)]
    for p in params:
        p.grad = torch.full_like(p, 1e-3)
    kwargs = {"lr": 1e-3}
    try:
        opt = torch.optim.Adam(params, foreach=True, **kwargs)
    except TypeError:  # older releases have no foreach flag
        opt = torch.optim.Adam(params, **kwargs)
    opt.step()
    t = best_time(opt.step)
    return 7 * TOTAL * 4 / t / 1e9


def clip():
    params = [torch.zeros(TOTAL // 10, requires_grad=True) for _ in range(10)]
    for p in params:
        p.grad = torch.ones_like(p)

    def run():
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        for p in params:  # keep the norm above the limit, as the tapeflow bench does
            p.grad.fill_(1.0)

    t_all = best_time(run)
    t_fill = best_time(lambda: [p.grad.fill_(1.0) for p in params])
    return 3 * TOTAL * 4 / max(t_all - t_fill, 1e-9) / 1e9


if __name__ == "__main__":
    torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
    print(json.dumps({"torch_version": torch.__version__, "threads": torch.get_num_threads(),
                      "adam_1": adam(1), "adam_100": adam(100), "clip_grad_norm": clip()}))
