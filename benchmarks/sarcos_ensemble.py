"""Benchmark: NP on SARCOS-shaped data, one ensemble of 32 configurations vs the same 32 run one at a time.

A 21-100-7 ReLU network (linear readout, batch 100, sigma = 1e-4, the
learning rate divided by the batch size) is trained by node perturbation for
8 learning rates x 4 seeds, first as one ensemble (``bioplastic.train`` with
a list of learning rates and seeds), then as 32 separate runs, in the same
process. Both do the same work (training steps and per-epoch evaluation) and
give the same results (checked: member i of the ensemble reproduces solo
run i). Goal: the ensemble >= 8x faster.

    python benchmarks/sarcos_ensemble.py [--quick] [--epochs N] [--noise rademacher] [--profile]

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


def run_ensemble(network, rule, task, n_epochs, lrs, seeds):
    start = time.perf_counter()
    history = bp.train(network, rule, task, n_epochs=n_epochs, learning_rate=lrs, seeds=seeds, batch_size=BATCH, progress=False)
    return time.perf_counter() - start, history


def run_solo(network, rule, task, n_epochs, lrs, seeds):
    start = time.perf_counter()
    histories = [
        bp.train(network, rule, task, n_epochs=n_epochs, learning_rate=lr, seeds=seed, batch_size=BATCH, progress=False)
        for lr in lrs
        for seed in seeds
    ]
    return time.perf_counter() - start, histories


def noise_floor(n_members, n_steps, kind, seed=0):
    """Seconds to draw the ensemble's intrinsic noise alone (one stream per member, as the engine does)."""
    from bioplastic.neurons import draw_noise

    rngs = [np.random.default_rng(seed + e) for e in range(n_members)]
    buf = np.empty((n_steps, BATCH, sum(SIZES[1:])))
    start = time.perf_counter()
    for rng in rngs:
        draw_noise(rng, kind, buf.shape, np.float64, out=buf)
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
    parser.add_argument("--noise", choices=("gaussian", "rademacher"), default="gaussian", help="intrinsic noise")
    parser.add_argument("--profile", action="store_true", help="also print where the time goes (cProfile)")
    args = parser.parse_args(argv)
    lrs, seeds = (LEARNING_RATES[[0, -1]], SEEDS[:2]) if args.quick else (LEARNING_RATES, SEEDS)
    n_epochs = 1 if args.quick else args.epochs
    repeats = 1 if args.quick else args.repeats

    task, what = sarcos_shaped_task()
    network = bp.models.mlp(SIZES, hidden="relu", readout="linear", noise=args.noise)
    rule = bp.NodePerturbation(sigma=1e-4, batch_reduction="mean")
    ensemble_times, solo_times = [], []
    for _ in range(repeats):  # interleaved, best of each: robust to load from other processes
        t, ensemble = run_ensemble(network, rule, task, n_epochs, lrs, seeds)
        ensemble_times.append(t)
        t, solos = run_solo(network, rule, task, n_epochs, lrs, seeds)
        solo_times.append(t)
    t_ens, t_solo = min(ensemble_times), min(solo_times)
    steps = n_epochs * task.n_batches(BATCH)
    t_noise = min(noise_floor(len(lrs) * len(seeds), steps, args.noise) for _ in range(repeats))

    n_members = len(lrs) * len(seeds)
    solo_errors = np.concatenate([h.records["test_error"] for h in solos])
    scale = np.maximum(np.abs(solo_errors), 1e-300)
    mismatch = float(np.nanmax(np.abs(ensemble.records["test_error"] - solo_errors) / scale))
    print(f"NP, {'-'.join(map(str, SIZES))} ReLU MLP, batch {BATCH}, {args.noise} noise, {what}")
    print(f"{n_members} configurations ({len(lrs)} learning rates x {len(seeds)} seeds), {n_epochs} epoch(s) = {steps} steps each")
    print(f"one ensemble of {n_members}: {t_ens:8.3f} s  ({t_ens / (steps * n_members) * 1e6:7.1f} us per member-step)")
    print(f"{n_members} runs one by one: {t_solo:8.3f} s  ({t_solo / (steps * n_members) * 1e6:7.1f} us per member-step)")
    print(f"largest relative difference of test errors, ensemble vs solo: {mismatch:.2e}")
    print(f"drawing the ensemble's noise alone: {t_noise:.3f} s; an ensemble that did nothing else would be "
          f"{t_solo / t_noise:.1f}x faster than the solo runs (the ceiling with one noise stream per member on one core)")
    ratio = t_solo / t_ens
    print(f"ratio solo/ensemble: {ratio:.2f}   (goal >= 8)")
    if args.profile:
        print("\n--- ensemble: where the time goes ---")
        print(_profile(run_ensemble, network, rule, task, n_epochs, lrs, seeds))
        print("--- one solo run: where the time goes ---")
        print(_profile(run_solo, network, rule, task, n_epochs, lrs[:1], seeds[:1]))
    return ratio


if __name__ == "__main__":
    main()
