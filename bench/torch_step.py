#!/usr/bin/env python3
"""The step_bench workloads in PyTorch (Debian python3-torch): forward, backward,
clip_grad_norm_(5), Adam, on random data of MNIST's shape, NCHW. Same output
format as step_bench. Usage: torch_step.py [reps=7] [seconds per rep=1.0] [threads=1]
"""
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, kind):
        super().__init__()
        self.kind = kind
        if kind == "mlp":
            self.fc1, self.fc2, self.fc3 = nn.Linear(784, 256), nn.Linear(256, 256), nn.Linear(256, 10)
            return
        c1, c2, dense = (16, 32, 128) if kind == "cnn" else (32, 64, 256)
        self.conv1 = nn.Conv2d(1, c1, 5, padding=2)
        self.conv2 = nn.Conv2d(c1, c2, 5, padding=2)
        self.fc1, self.fc2 = nn.Linear(7 * 7 * c2, dense), nn.Linear(dense, 10)

    def forward(self, x):
        if self.kind == "mlp":
            x = F.relu(self.fc1(x.flatten(1)))
            return self.fc3(F.relu(self.fc2(x)))
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2).flatten(1)
        if self.kind == "mnist":
            x = F.dropout(x, 0.25, True)
        x = F.relu(self.fc1(x))
        if self.kind == "mnist":
            x = F.dropout(x, 0.5, True)
        return self.fc2(x)


def steps_per_second(net, x, y, seconds):
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()

    for _ in range(3):
        step()
    start, steps = time.perf_counter(), 0
    while True:
        step()
        steps += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return steps / elapsed


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    torch.set_num_threads(threads)
    print(f"threads={threads} pytorch {torch.__version__}")
    for name, kind, batch in (("W1 mlp/32", "mlp", 32), ("W2 mlp/256", "mlp", 256),
                              ("CNN/64", "cnn", 64), ("MNIST-CNN/64", "mnist", 64)):
        torch.manual_seed(7)
        net = Net(kind)
        x = torch.rand(batch, 1, 28, 28)
        y = torch.randint(0, 10, (batch,))
        r = sorted(steps_per_second(net, x, y, seconds) for _ in range(reps))
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        print(f"{name:<10} {r[len(r) // 2]:9.1f} steps/s  (min {r[0]:.1f}, max {r[-1]:.1f}, "
              f"{reps} reps)  peak RSS {rss} MB", flush=True)


if __name__ == "__main__":
    main()
