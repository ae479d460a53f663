"""Benchmark: one NP training epoch of a 784-300-10 MLP against the GEMM floor.

The floor is the time of the matrix products one NP step needs at the same
shapes (clean forward pass, the perturbed pass's upper layer, the two weight
updates), measured in the same run with as many BLAS threads as the engine
uses (its thread policy: ``bioplastic._threads``). Goal: NP epoch <= 1.5x
the floor. The benchmark prints the BLAS and its kernels.

    python benchmarks/np_step.py [--quick] [--steps N]

With BIOPLASTIC_DATA_DIR pointing at a directory holding MNIST, the epoch
is also run on the real training images.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import bioplastic as bp
from bioplastic._threads import blas_description, blas_limit, current_blas_threads
from bioplastic.engines.numpy import NumpyEngine

SIZES = (784, 300, 10)
BATCH = 100


def gemm_floor(n_steps, rng, dtype, blas_threads=1):
    """Seconds for the matrix products of ``n_steps`` NP steps (``blas_threads`` BLAS threads at most)."""
    x = rng.standard_normal((BATCH, SIZES[0])).astype(dtype)
    w1 = rng.standard_normal((SIZES[1], SIZES[0])).astype(dtype)
    w2 = rng.standard_normal((SIZES[2], SIZES[1])).astype(dtype)
    h = rng.standard_normal((BATCH, SIZES[1])).astype(dtype)
    g1 = rng.standard_normal((SIZES[1], BATCH)).astype(dtype)
    g2 = rng.standard_normal((SIZES[2], BATCH)).astype(dtype)
    with blas_limit(blas_threads):
        start = time.perf_counter()
        for _ in range(n_steps):
            x @ w1.T  # clean first layer (reused by the perturbed pass)
            h @ w2.T  # clean second layer
            h @ w2.T  # perturbed second layer (propagated difference)
            g1 @ x  # first-layer update: sum over samples of outer products
            g2 @ h  # second-layer update
        return time.perf_counter() - start


def _engine(dtype, seed=0):
    net = bp.models.mlp(SIZES, hidden="relu", readout="softmax")
    return NumpyEngine(net, bp.NodePerturbation(sigma=1e-4, batch_reduction="sum"), bp.SquaredError(),
                       seeds=[seed], batch_size=BATCH, dtype=dtype)


def engine_blas_threads(dtype):
    """BLAS threads the engine runs its steps with (its thread plan, within the process's current limit)."""
    with _engine(dtype).running():
        return current_blas_threads() or 1


def np_epoch(x, y, n_steps, dtype, seed=0):
    """Seconds for ``n_steps`` NP steps (forward, perturbed pass, updates) of the engine."""
    engine = _engine(dtype, seed)
    scale = np.array([1e-3], dtype=dtype)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    engine.start_epoch(n_steps)
    start = time.perf_counter()
    with engine.running():
        for i in range(n_steps):
            idx = order[(i * BATCH) % len(x): (i * BATCH) % len(x) + BATCH]
            engine.step(x[idx], y[idx], scale)
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few steps only (a smoke test)")
    parser.add_argument("--steps", type=int, default=600, help="steps per epoch (default: 600 = 60,000 / 100)")
    parser.add_argument("--repeats", type=int, default=5, help="repeats; the best time is kept")
    args = parser.parse_args(argv)
    n_steps = 20 if args.quick else args.steps
    repeats = 1 if args.quick else args.repeats
    dtype = np.float32
    rng = np.random.default_rng(0)
    n = n_steps * BATCH
    x = rng.random((n, SIZES[0]), dtype=dtype)
    y = np.eye(SIZES[-1], dtype=dtype)[rng.integers(0, SIZES[-1], n)]

    threads = engine_blas_threads(dtype)
    floors, epochs = [], []
    for _ in range(repeats):  # interleaved, best of each: robust to load from other processes
        floors.append(gemm_floor(n_steps, rng, dtype, threads))
        epochs.append(np_epoch(x, y, n_steps, dtype))
    floor, epoch = min(floors), min(epochs)
    blas, hint = blas_description()
    print(f"784-300-10 MLP, batch {BATCH}, float32, {n_steps} steps (random data of MNIST's shape)")
    print(f"{blas}; the engine's steps and the floor use {threads} BLAS thread(s)")
    if hint:
        print(f"hint: {hint}")
    print(f"GEMM floor:     {floor * 1e3:9.1f} ms  ({floor / n_steps * 1e6:7.1f} us/step)")
    print(f"NP epoch:       {epoch * 1e3:9.1f} ms  ({epoch / n_steps * 1e6:7.1f} us/step)")
    print(f"ratio NP/floor: {epoch / floor:9.2f}   (goal <= 1.5)")

    data_dir = os.environ.get("BIOPLASTIC_DATA_DIR")
    if data_dir and not args.quick:
        from bioplastic.tasks.mnist import load_mnist

        data = load_mnist(data_dir, download=False)
        xr = data["x_train"].astype(dtype)
        yr = np.eye(10, dtype=dtype)[data["y_train"]]
        steps = len(xr) // BATCH
        real = min(np_epoch(xr, yr, steps, dtype) for _ in range(repeats))
        floor_real = floor / n_steps * steps
        print(f"real MNIST epoch ({steps} steps): {real:.3f} s, floor {floor_real:.3f} s, ratio {real / floor_real:.2f}")
    return epoch / floor


if __name__ == "__main__":
    main()
