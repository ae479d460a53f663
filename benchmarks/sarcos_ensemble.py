"""Benchmark: NP on SARCOS-shaped data, one ensemble of 32 configurations vs the same 32 run one at a time.

A 21-100-7 ReLU network (linear readout, batch 100, sigma = 1e-4, the
learning rate divided by the batch size) is trained by node perturbation for
8 learning rates x 4 seeds, first as one ensemble (``bioplastic.train`` with
a list of learning rates and seeds), then as 32 separate runs, in the same
process. Both do the same work (training steps and an evaluation of the
training and test error before training and after every epoch) and give the
same results (checked: member i of the ensemble reproduces solo run i).
Goal: the ensemble >= 8x faster.

The same run also times the matrix products of the ensemble's work alone
(the forward, perturbed and update GEMMs of every step and the evaluation's
forward passes, with the engine's shapes and blocks, BLAS on one core). An
ensemble that spends that long in its matrix products cannot beat the solo
runs by more than solo time / that time per core used: the benchmark prints
this ceiling next to the ratio.

    python benchmarks/sarcos_ensemble.py [--quick] [--epochs N] [--dtype float32] [--threads N] [--noise rademacher] [--profile]

The matrix products run on the BLAS numpy was built with; the benchmark
prints which one and which kernels it uses. When the environment pins
OpenBLAS to its AVX2 ("Haswell") kernels (``OPENBLAS_CORETYPE``) on a
processor with AVX-512, the benchmark says so: the AVX-512 kernels double the
matrix-product throughput, and so the ceiling below.

The data are random arrays of SARCOS's shape (3,559 training and 890 test
rows, as in the test-file-only split); with BIOPLASTIC_DATA_DIR set, the real
test-file-only split is used instead.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import time

import numpy as np

import bioplastic as bp
from bioplastic._threads import blas_description
from bioplastic.tasks import DatasetTask

SIZES = (21, 100, 7)
BATCH = 100
LEARNING_RATES = np.geomspace(1e-5, 1e-4, 8)
SEEDS = [0, 1, 2, 3]


def sarcos_shaped_task(n_train=3559, n_test=890, seed=0):
    """Random regression data with SARCOS's shapes and scales (inputs ~ N(0, 1), torque-sized targets)."""
    data_dir = os.environ.get("BIOPLASTIC_DATA_DIR")
    if data_dir:
        from bioplastic.tasks import SarcosTask

        return SarcosTask(data_dir, split="test_file_only", standardize="inputs"), "real SARCOS (test-file-only split)"
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_train + n_test, SIZES[0]))
    teacher = rng.standard_normal((SIZES[0], SIZES[-1])) * 5.0
    y = np.tanh(x) @ teacher + rng.standard_normal((n_train + n_test, SIZES[-1]))
    return DatasetTask(x[:n_train], y[:n_train], x[n_train:], y[n_train:], name="sarcos_shaped"), "random SARCOS-shaped data"


def run_ensemble(network, rule, task, n_epochs, lrs, seeds, dtype="float64", n_threads=1):
    start = time.perf_counter()
    history = bp.train(network, rule, task, n_epochs=n_epochs, learning_rate=lrs, seeds=seeds, batch_size=BATCH, progress=False,
                       dtype=dtype, n_threads=n_threads)
    return time.perf_counter() - start, history


def run_solo(network, rule, task, n_epochs, lrs, seeds, dtype="float64"):
    start = time.perf_counter()
    histories = [
        bp.train(network, rule, task, n_epochs=n_epochs, learning_rate=lr, seeds=seed, batch_size=BATCH, progress=False, dtype=dtype)
        for lr in lrs
        for seed in seeds
    ]
    return time.perf_counter() - start, histories


def matrix_product_floor(task, n_members, n_epochs, dtype, block=4):
    """Seconds the ensemble's matrix products alone take on one core (the engine's shapes, blocks of ``block`` members).

    Per step and member: ``h1 = x W1^T``, the clean and perturbed readout
    ``x1 W2^T`` and ``dx1 W2^T``, and the updates ``(M xi1)^T x`` and
    ``(M xi2)^T x1``; per evaluation, the forward pass over the training and
    test inputs. Everything else (noise, element-wise work, Python) is left out.
    """
    from bioplastic.engines.numpy import single_threaded_blas

    n_in, n_hidden, n_out = SIZES
    rng = np.random.default_rng(0)
    dtype = np.dtype(dtype)
    rand = lambda *shape: rng.standard_normal(shape).astype(dtype)  # noqa: E731
    x, w1, w2 = rand(BATCH, n_in), rand(block, n_in, n_hidden) / 5, rand(block, n_hidden, n_out) / 10
    x1, dx1, post1, post2 = rand(block, BATCH, n_hidden), rand(block, BATCH, n_hidden), rand(block * n_hidden, BATCH), rand(block, n_out, BATCH)
    h1, y, dw1, dw2 = (np.empty(s, dtype) for s in [(block, BATCH, n_hidden), (block, BATCH, n_out), (block * n_hidden, n_in), (block, n_out, n_hidden)])
    eval_x = np.concatenate([np.asarray(a, dtype=dtype) for a, _ in task.evaluation_sets().values()])
    chunk = max(16, 2**18 // (block * n_hidden))
    n_blocks, n_steps = -(-n_members // block), n_epochs * task.n_batches(BATCH)
    with single_threaded_blas():
        start = time.perf_counter()
        for _ in range(n_steps * n_blocks):
            np.matmul(x, w1, out=h1)
            np.matmul(x1, w2, out=y)
            np.matmul(dx1, w2, out=y)
            np.matmul(post1, x, out=dw1)
            np.matmul(post2, x1, out=dw2)
        for _ in range((n_epochs + 1) * n_blocks):
            for i in range(0, len(eval_x), chunk):
                xc = eval_x[i : i + chunk]
                np.matmul(np.matmul(xc, w1), w2)
        return time.perf_counter() - start


def _profile(func, *args):
    profiler = cProfile.Profile()
    profiler.enable()
    func(*args)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(8)
    return out.getvalue()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 epoch, 2 learning rates x 2 seeds (a smoke test)")
    parser.add_argument("--epochs", type=int, default=3, help="training epochs (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=2, help="repeats; the best time of each is kept")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64", help="arithmetic (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="threads over the ensemble's member blocks (default: %(default)s)")
    parser.add_argument("--noise", choices=("gaussian", "rademacher"), default="gaussian", help="intrinsic noise")
    parser.add_argument("--profile", action="store_true", help="also print where the time goes (cProfile)")
    args = parser.parse_args(argv)
    lrs, seeds = (LEARNING_RATES[[0, -1]], SEEDS[:2]) if args.quick else (LEARNING_RATES, SEEDS)
    n_epochs = 1 if args.quick else args.epochs
    repeats = 1 if args.quick else args.repeats

    task, what = sarcos_shaped_task()
    network = bp.models.mlp(SIZES, hidden="relu", readout="linear", noise=args.noise)
    rule = bp.NodePerturbation(sigma=1e-4, batch_reduction="mean")
    n_members = len(lrs) * len(seeds)
    run_ensemble(network, rule, task, 1, lrs[:1], seeds[:1], args.dtype, args.threads)  # warm-up: imports, thread pools
    ensemble_times, solo_times, floor_times = [], [], []
    for _ in range(repeats):  # interleaved, best of each: robust to load from other processes
        t, ensemble = run_ensemble(network, rule, task, n_epochs, lrs, seeds, args.dtype, args.threads)
        ensemble_times.append(t)
        t, solos = run_solo(network, rule, task, n_epochs, lrs, seeds, args.dtype)
        solo_times.append(t)
        floor_times.append(matrix_product_floor(task, n_members, n_epochs, args.dtype))
    t_ens, t_solo, t_floor = min(ensemble_times), min(solo_times), min(floor_times)
    steps = n_epochs * task.n_batches(BATCH)

    solo_errors = np.concatenate([h.records["test_error"] for h in solos])
    scale = np.maximum(np.abs(solo_errors), 1e-300)
    mismatch = float(np.nanmax(np.abs(ensemble.records["test_error"] - solo_errors) / scale))
    blas, hint = blas_description()
    print(f"NP, {'-'.join(map(str, SIZES))} ReLU MLP, batch {BATCH}, {args.noise} noise, {args.dtype}, {what}; {blas}")
    print(f"{n_members} configurations ({len(lrs)} learning rates x {len(seeds)} seeds), {n_epochs} epoch(s) = {steps} steps each, "
          f"errors evaluated {n_epochs + 1} times")
    per = steps * n_members / 1e6
    print(f"one ensemble of {n_members} ({args.threads} thread(s)): {t_ens:8.3f} s  ({t_ens / per:7.1f} us per member-step)")
    print(f"{n_members} runs one by one:        {t_solo:8.3f} s  ({t_solo / per:7.1f} us per member-step)")
    print(f"largest relative difference of test errors, ensemble vs solo: {mismatch:.2e}")
    print(f"the ensemble's matrix products alone, one core: {t_floor:.3f} s ({t_floor / per:.1f} us per member-step): "
          f"ceiling of the ratio on this machine {t_solo / t_floor:.2f} per core")
    ratio = t_solo / t_ens
    print(f"ratio solo/ensemble: {ratio:.2f}   (goal >= 8; {t_floor / t_ens:.0%} of the one-core matrix-product floor)")
    if hint:
        print(f"hint: {hint}")
    if args.profile:
        print("\n--- ensemble: where the time goes ---")
        print(_profile(run_ensemble, network, rule, task, n_epochs, lrs, seeds, args.dtype, args.threads))
        print("--- one solo run: where the time goes ---")
        print(_profile(run_solo, network, rule, task, n_epochs, lrs[:1], seeds[:1], args.dtype))
    return ratio


if __name__ == "__main__":
    main()
