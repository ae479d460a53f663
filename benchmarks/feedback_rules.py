"""Benchmark: one training epoch of the feedback-pathway rules against backprop (SGD).

A 784-256-256-10 MLP (ReLU, softmax readout, cross-entropy), batch 128,
float32, one member; each rule's epoch is timed as a ratio to backprop's
epoch in the same run, interleaved, best of ``--repeats``. Goals: feedback
alignment (FA) <= 1.1x SGD; the alignment-loss rules (SA, IA) <= 1.6x SGD.
The FA ratio, the main goal, is printed last.

    python benchmarks/feedback_rules.py [--quick] [--steps N] [--repeats N]

The images are MNIST's training set when BIOPLASTIC_DATA_DIR points at a
folder holding MNIST, else random data of the same shape.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import bioplastic as bp
from bioplastic._threads import blas_description
from bioplastic.engines.numpy import NumpyEngine

SIZES = (784, 256, 256, 10)
BATCH = 128
#: label -> (rule factory, goal as a ratio to SGD's epoch)
RULES = {
    "SGD": (bp.Backprop, None),
    "FA": (bp.FeedbackAlignment, 1.1),
    "SA": (bp.SymmetricAlignment, 1.6),
    "IA": (bp.InformationAlignment, 1.6),
}


def training_data(n, dtype, *, quick):
    """``(x, one-hot y, source)``: MNIST's training images (BIOPLASTIC_DATA_DIR) or random data of their shape."""
    data_dir = os.environ.get("BIOPLASTIC_DATA_DIR")
    if data_dir and not quick:
        from bioplastic.tasks.mnist import load_mnist

        data = load_mnist(data_dir, download=False)
        return data["x_train"].astype(dtype), np.eye(10, dtype=dtype)[data["y_train"]], "MNIST"
    rng = np.random.default_rng(0)
    return rng.random((n, SIZES[0]), dtype=dtype), np.eye(10, dtype=dtype)[rng.integers(0, 10, n)], "random data of MNIST's shape"


def epoch_seconds(rule, x, y, n_steps, dtype, seed=0):
    """Seconds for ``n_steps`` steps of ``rule`` (one member, learning rate 0.01) on minibatches of ``x``."""
    net = bp.models.mlp(SIZES, hidden="relu", readout="softmax")
    engine = NumpyEngine(net, rule, bp.CrossEntropy(), seeds=[seed], batch_size=BATCH, dtype=dtype)
    scale = np.array([0.01], dtype=dtype)
    order = np.random.default_rng(seed).permutation(len(x))
    batches = [order[i * BATCH:(i + 1) * BATCH] for i in range(n_steps)]
    engine.start_epoch(n_steps)
    with engine.running():
        start = time.perf_counter()
        for idx in batches:
            engine.step(x[idx], y[idx], scale)
        return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few steps only (a smoke test)")
    parser.add_argument("--steps", type=int, default=None, help="steps per epoch (default: the training set / 128)")
    parser.add_argument("--repeats", type=int, default=5, help="repeats; the best time of each rule is kept")
    args = parser.parse_args(argv)
    dtype = np.float32
    x, y, source = training_data(60000, dtype, quick=args.quick)
    n_steps = 10 if args.quick else (args.steps or len(x) // BATCH)
    n_steps = min(n_steps, len(x) // BATCH)
    repeats = 1 if args.quick else args.repeats
    times = {label: [] for label in RULES}
    for _ in range(repeats):  # interleaved, best of each: robust to load from other processes
        for label, (factory, _) in RULES.items():
            times[label].append(epoch_seconds(factory(), x, y, n_steps, dtype))
    best = {label: min(t) for label, t in times.items()}
    blas, hint = blas_description()
    print(f"{'-'.join(map(str, SIZES))} MLP, batch {BATCH}, float32, {n_steps} steps ({source}), best of {repeats}")
    print(blas)
    if hint:
        print(f"hint: {hint}")
    for label in RULES:
        print(f"{label} epoch: {best[label] * 1e3:9.1f} ms  ({best[label] / n_steps * 1e6:7.1f} us/step)")
    ratios = {label: best[label] / best["SGD"] for label in RULES if label != "SGD"}
    for label in [name for name in ratios if name != "FA"] + ["FA"]:
        print(f"ratio {label}/SGD: {ratios[label]:6.2f}   (goal <= {RULES[label][1]})")
    return ratios


if __name__ == "__main__":
    main()
