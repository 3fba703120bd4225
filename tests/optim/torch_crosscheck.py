#!/usr/bin/env python3
"""Replays tests/optim/trajectories.cpp's runs in PyTorch (Debian python3-torch)
and checks every step agrees where the two frameworks' formulas coincide:
SGD, Nesterov momentum, Adagrad with eps=0, Adadelta, Adam and AdamW with
eps=0 (TF's "epsilon hat" and PyTorch's epsilon agree only at 0).
Exit 77 (ctest: skipped) when torch is not installed."""
import json
import subprocess
import sys

try:
    import torch
except ImportError:
    print("skipped: python3-torch is not installed (scripts/install-deps.sh bench)")
    sys.exit(77)

data = json.loads(subprocess.run([sys.argv[1]], check=True, capture_output=True, text=True).stdout)
target = torch.tensor(data["target"], dtype=torch.float64)
coef = torch.tensor(data["coef"], dtype=torch.float64)


def make(name, params):
    if name == "sgd":
        return torch.optim.SGD(params, lr=0.1)
    if name == "nesterov":
        return torch.optim.SGD(params, lr=0.05, momentum=0.9, nesterov=True)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=0.3, initial_accumulator_value=0.1, eps=0)
    if name == "adadelta":
        return torch.optim.Adadelta(params, lr=1.0, rho=0.9, eps=1e-6)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=0.05, weight_decay=0.1, eps=0)
    if name == "adam":
        return torch.optim.Adam(params, lr=0.05, eps=0)
    raise KeyError(name)


worst = 0.0
for name, trajectory in data["cases"].items():
    w = torch.tensor(data["start"], dtype=torch.float64, requires_grad=True)
    opt = make(name, [w])
    for step, ours in enumerate(trajectory):
        opt.zero_grad()
        (coef * (w - target) ** 2).sum().backward()
        opt.step()
        theirs = w.detach().tolist()
        err = max(abs(a - b) / max(1.0, abs(b)) for a, b in zip(ours, theirs))
        worst = max(worst, err)
        if err > 1e-9:
            print(f"{name}: step {step + 1} differs by {err:.3g}\n tapeflow {ours}\n pytorch  {theirs}")
            sys.exit(1)
    print(f"{name}: {len(trajectory)} steps agree with torch {torch.__version__}")
print(f"largest relative difference {worst:.3g}")
