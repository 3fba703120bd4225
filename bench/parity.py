#!/usr/bin/env python3
"""The mnist example's models and training loop in PyTorch (Debian python3-torch).

Same data files, split, input standardisation, model, initialisation scheme
(Glorot-uniform weights, zero biases, SAME padding), batch size, optimizer,
per-epoch learning-rate decay and global-norm clipping as examples/mnist/main.cpp, so the accuracies
can be compared. One difference is inherent: PyTorch's Adam adds epsilon after
the bias correction (TF adds it before), which matters little at eps = 1e-8.

usage: parity.py --dataset mnist|fashion --model mlp|cnn [--epochs N] [--seed S]
prints one line: dataset model epochs test_accuracy seconds
"""
import argparse
import gzip
import os
import struct
import time

import numpy as np
import torch
from torch import nn


def read_idx(path):
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        data = f.read()
    rank = data[3]
    dims = struct.unpack(">" + "I" * rank, data[4:4 + 4 * rank])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def find(root, name):
    for candidate in (name, name + ".gz"):  # data/mnist is raw, data/fashion gzip
        if os.path.exists(os.path.join(root, candidate)):
            return os.path.join(root, candidate)
    raise FileNotFoundError(f"{root}/{name}[.gz] (run make data)")


def load(root, split):
    x = read_idx(find(root, f"{split}-images-idx3-ubyte")).astype(np.float32) / 255.0
    y = read_idx(find(root, f"{split}-labels-idx1-ubyte")).astype(np.int64)
    return torch.from_numpy(x[:, None, :, :].copy()), torch.from_numpy(y.copy())


def build(dataset, model):
    mnist = dataset == "mnist"
    layers = []
    if model == "mlp":
        layers += [nn.Flatten(), nn.Linear(784, 512 if mnist else 256), nn.ReLU()]
        if mnist:
            layers.append(nn.Dropout(0.2))
        layers += [nn.Linear(512 if mnist else 256, 256), nn.ReLU()]
        if mnist:
            layers.append(nn.Dropout(0.2))
        layers.append(nn.Linear(256, 10))
    else:
        c1, c2, hidden = (32, 64, 256) if mnist else (16, 32, 128)
        layers += [nn.Conv2d(1, c1, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                   nn.Conv2d(c1, c2, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten()]
        if mnist:
            layers.append(nn.Dropout(0.25))
        layers += [nn.Linear(7 * 7 * c2, hidden), nn.ReLU()]
        if mnist:
            layers.append(nn.Dropout(0.5))
        layers.append(nn.Linear(hidden, 10))
    net = nn.Sequential(*layers)
    for m in net.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)  # TF's glorot_uniform (same fans for OIHW)
            nn.init.zeros_(m.bias)
    return net


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--model", default="cnn")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data-root", default="data")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    root = os.path.join(args.data_root, args.dataset)
    xtr, ytr = load(root, "train")
    xte, yte = load(root, "t10k")
    mean, std = xtr.mean(), xtr.std()  # standardised like the example's default --normalize
    xtr, xte = (xtr - mean) / std, (xte - mean) / std
    net = build(args.dataset, args.model)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-8)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.85)
    loss_fn = nn.CrossEntropyLoss()
    start = time.time()
    for _ in range(args.epochs):
        net.train()
        perm = torch.randperm(len(ytr))
        for i in range(0, len(ytr), 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            loss = loss_fn(net(xtr[idx]), ytr[idx])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()
        sched.step()
    net.eval()
    with torch.no_grad():
        correct = sum((net(xte[i:i + 1000]).argmax(1) == yte[i:i + 1000]).sum().item()
                      for i in range(0, len(yte), 1000))
    print(f"{args.dataset} {args.model} {args.epochs} {100.0 * correct / len(yte):.2f} {time.time() - start:.0f}")


if __name__ == "__main__":
    main()
