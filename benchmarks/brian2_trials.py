"""Trials per second of the Brian2 engine (cython vs numpy code generation) against the numpy engine.

A 21-100-7 network (tanh hidden layer, linear readout: the SARCOS shape) learns
online with node perturbation, synaptic scaling and the clean baseline. For
each Brian2 code-generation target the script runs a warm-up call (code
generation and, for cython, compilation or a compile-cache hit), then times
``n`` trials (one ``run_trials`` call, code generation of that call included).
In the same process the numpy engine does ``n`` NP updates with batch size 1
(one update per sample, as in a trial). Printed: trials per second of each,
the cython/numpy speed-up and the wall time per trial relative to the numpy
engine.

Usage::

    python benchmarks/brian2_trials.py            # both targets, 400 trials
    python benchmarks/brian2_trials.py --quick    # numpy target only, 20 trials (seconds)
    python benchmarks/brian2_trials.py --trials 1000 --no-cython
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bioplastic import NodePerturbation, SquaredError, SynapticScaling, models
from bioplastic.engines.brian2 import Brian2Engine
from bioplastic.engines.numpy import NumpyEngine

SIZES = (21, 100, 7)


def _data(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, SIZES[0])), rng.standard_normal((n, SIZES[-1]))


def time_brian2(target, n_trials, warmup):
    """Seconds per trial of the Brian2 engine after a warm-up call (and the warm-up's wall time)."""
    net = models.mlp(SIZES, hidden="tanh")
    engine = Brian2Engine(net, NodePerturbation(sigma=1e-3), homeostasis=SynapticScaling(), learning_rate=1e-3, target=target)
    x, y = _data(n_trials + warmup)
    start = time.perf_counter()
    engine.run_trials(x[:warmup], y[:warmup])
    warm = time.perf_counter() - start
    start = time.perf_counter()
    engine.run_trials(x[warmup:], y[warmup:])
    return (time.perf_counter() - start) / n_trials, warm, engine


def time_numpy_engine(n_updates):
    """Seconds per NP update (batch size 1) of the numpy engine."""
    net = models.mlp(SIZES, hidden="tanh")
    engine = NumpyEngine(net, NodePerturbation(sigma=1e-3), SquaredError(), seeds=[0], batch_size=1,
                         homeostasis=SynapticScaling())
    x, y = _data(n_updates)
    scale = np.array([1e-3])
    engine.start_epoch(n_updates)
    start = time.perf_counter()
    with engine.running():  # as the training loop runs it: thread limits set once
        for i in range(n_updates):
            engine.step(x[i : i + 1], y[i : i + 1], scale)
    return (time.perf_counter() - start) / n_updates


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="numpy target only, few trials")
    parser.add_argument("--trials", type=int, default=None, help="timed trials per target (default 400, quick 20)")
    parser.add_argument("--no-cython", action="store_true", help="skip the cython target")
    args = parser.parse_args(argv)
    n_trials = args.trials or (20 if args.quick else 400)
    warmup = 2 if args.quick else 10
    targets = ["numpy"] if (args.quick or args.no_cython) else ["cython", "numpy"]

    results = {}
    engine = None
    for target in targets:
        per_trial, warm, engine = time_brian2(target, n_trials, warmup)
        results[target] = per_trial
    per_update = time_numpy_engine(max(n_trials, 200))

    e = engine
    print(f"network {'-'.join(map(str, SIZES))}, tau={e.tau_ * 1e3:g} ms, dt={e.dt_ * 1e3:g} ms, "
          f"trial {e.trial_duration_ * 1e3:g} ms ({e.steps_per_trial_} steps), {n_trials} timed trials")
    for target, per_trial in results.items():
        print(f"brian2 {target:>6}: {1 / per_trial:9.1f} trials/s  ({per_trial * 1e3:.2f} ms/trial, "
              f"{per_trial / e.steps_per_trial_ * 1e6:.1f} us/step)")
    if "cython" not in results:
        print("brian2 cython: skipped (" + ("--quick" if args.quick else "--no-cython") + ")")
    print(f"numpy engine: {1 / per_update:9.1f} NP updates/s ({per_update * 1e6:.1f} us/update, batch size 1)")
    if "cython" in results:
        print(f"cython / numpy target speed-up: {results['numpy'] / results['cython']:.2f}x")
    for target, per_trial in results.items():
        print(f"wall time per trial, brian2 {target}, relative to the numpy engine's NP update: {per_trial / per_update:.0f}x")


if __name__ == "__main__":
    main()
