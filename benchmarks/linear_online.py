"""Benchmark: online node perturbation in a deep linear network at the paper's sizes.

Online NP (one fresh sample per step) of ``y = W2 W1 x`` with
``Lx = 100``, ``Lh = 10,000``, ``Ly = 10`` in float64, measured in the same
run against a straightforward per-step implementation of Eq. 3 of Hiratani
et al. (2022) written below (clean and perturbed forward passes, a fresh
outer-product update array per step). Reports network-iterations per second
per network and the ratio for

* ``bioplastic.online.train_online(method="blocked")``: the network itself
  (sample-path identical to ``bioplastic.train`` with ``batch_size=1``),
  with pending rank-1 updates of ``W1`` applied as one matrix product per
  block, for one network and for an ensemble;
* ``method="reduced"``: the exact-in-distribution hidden-space engine, whose
  cost does not depend on ``Lh``.

Also printed, as floors of the sample-path exact engine: drawing the
``Lh + Ly`` Gaussian noise values of one step (with the engines' noise
generator, which the core may run on a worker thread), and the two
``Lh x Lx`` matrix products per step that any exact simulation needs
(reading ``W1`` against the new inputs, adding the new updates), timed at
the blocked engine's block size.

    python benchmarks/linear_online.py [--quick] [--steps N] [--threads T]

Goal: >= 25x more network-iterations per second per network than the
straightforward implementation.
"""

from __future__ import annotations

import argparse
import os
import sys


def _parse():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small run (Lh = 1000, few steps) to check the script works")
    parser.add_argument("--steps", type=int, default=None, help="steps of the straightforward reference (default 200; quick 20)")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads for both implementations (default 1)")
    return parser.parse_args()


ARGS = _parse() if __name__ == "__main__" else None
if ARGS is not None:  # BLAS threads must be set before numpy is imported
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads)

import time  # noqa: E402

import numpy as np  # noqa: E402

import bioplastic as bp  # noqa: E402
from bioplastic.neurons import draw_noise  # noqa: E402
from bioplastic.online import train_online  # noqa: E402
from bioplastic.tasks import StudentTeacher  # noqa: E402

SIGMA = 1e-4


def reference_np(n_inputs, n_hidden, n_outputs, n_steps, learning_rate, seed=0):
    """Seconds per step of a straightforward online NP implementation (Eq. 3), and its final error."""
    rng = np.random.default_rng(seed)
    teacher = rng.standard_normal((n_outputs, n_inputs)) * np.sqrt(2.0 / (n_inputs + n_outputs))
    w1 = rng.standard_normal((n_hidden, n_inputs)) * np.sqrt(2.0 / (n_inputs + n_hidden))
    w2 = rng.standard_normal((n_outputs, n_hidden)) * np.sqrt(2.0 / (n_hidden + n_outputs))
    start = time.perf_counter()
    for _ in range(n_steps):
        x = rng.standard_normal(n_inputs)
        target = teacher @ x
        # clean pass
        h = w1 @ x
        y = w2 @ h
        loss = 0.5 * np.sum((y - target) ** 2)
        # perturbed pass: intrinsic noise in the hidden and output neurons
        xi_h = rng.standard_normal(n_hidden)
        xi_y = rng.standard_normal(n_outputs)
        h_p = w1 @ x + SIGMA * xi_h
        y_p = w2 @ h_p + SIGMA * xi_y
        loss_p = 0.5 * np.sum((y_p - target) ** 2)
        modulator = -(loss_p - loss) / SIGMA
        # three-factor updates: fresh outer-product arrays
        dw1 = learning_rate * modulator * np.outer(xi_h, x)
        dw2 = learning_rate * modulator * np.outer(xi_y, h)
        w1 = w1 + dw1
        w2 = w2 + dw2
    seconds = (time.perf_counter() - start) / n_steps
    error = np.sum((w2 @ w1 - teacher) ** 2) / (n_inputs * n_outputs)
    return seconds, error


def engine_np(n_inputs, n_hidden, n_outputs, n_steps, learning_rate, *, method, n_members, block_size=None, repeats=2,
              homeostasis=None):
    """Seconds per network-step of ``train_online``: runs of ``n_steps`` and ``2 n_steps`` steps, differenced (setup cancels)."""
    net = bp.models.deep_linear(n_inputs, n_hidden, n_outputs)
    rule = bp.NodePerturbation(sigma=SIGMA)
    kwargs = dict(learning_rate=[learning_rate] * n_members, seeds=0, method=method, block_size=block_size,
                  progress=False, dimensionality=False, homeostasis=homeostasis)

    def timed(steps):
        task = StudentTeacher(n_inputs=n_inputs, n_outputs=n_outputs, steps_per_epoch=steps, n_eval=1)
        best, history = np.inf, None
        for _ in range(repeats):
            start = time.perf_counter()
            history = train_online(net, rule, task, n_epochs=1, **kwargs)
            best = min(best, time.perf_counter() - start)
        return best, history

    short, _ = timed(n_steps)
    long, history = timed(2 * n_steps)
    per_step = max(long - short, 1e-12) / (n_steps * n_members)
    return per_step, float(np.nanmean(history.records["error"][:, -1]))


def floors(n_inputs, n_hidden, n_outputs, block_size, seed=0):
    """Seconds per step for the noise draws and for the two W1 matrix products of the exact engine."""
    rng = np.random.default_rng(seed)
    buf = np.empty((block_size, n_hidden + n_outputs))
    w1 = rng.standard_normal((n_hidden, n_inputs))
    x = rng.standard_normal((block_size, n_inputs))
    u = rng.standard_normal((block_size, n_hidden))
    best_noise = best_gemm = np.inf
    for _ in range(5):
        start = time.perf_counter()
        draw_noise(rng, "gaussian", buf.shape, np.float64, out=buf)  # the engines' noise generator
        best_noise = min(best_noise, (time.perf_counter() - start) / block_size)
        start = time.perf_counter()
        x @ w1.T
        w1 += u.T @ x
        best_gemm = min(best_gemm, (time.perf_counter() - start) / block_size)
    return best_noise, best_gemm


def main(args):
    sizes = (100, 1000, 10) if args.quick else (100, 10_000, 10)
    ref_steps = args.steps if args.steps is not None else (20 if args.quick else 200)
    eta = 0.5 * 1.0 / (3 * sizes[0] * sizes[2] * np.cbrt(sizes[1]))
    print(f"online NP, Lx={sizes[0]}, Lh={sizes[1]}, Ly={sizes[2]}, float64, sigma={SIGMA}, eta={eta:.3g}, "
          f"BLAS threads={args.threads}" + ("  [--quick: a smoke test, timings only indicative]" if args.quick else ""))
    ref, ref_err = reference_np(*sizes, ref_steps, eta)
    print(f"  straightforward per-step Eq. 3   {ref * 1e6:10.1f} us/step   {1 / ref:10.0f} it/s   (epsilon after {ref_steps}: {ref_err:.3g})")
    noise, gemm = floors(*sizes, 32)
    print(f"  floor: noise draw per step       {noise * 1e6:10.1f} us        floor: 2 W1 GEMMs per step {gemm * 1e6:.1f} us")
    runs = [
        ("blocked", 1, 2 * ref_steps),
        ("blocked", 4, ref_steps),
        ("reduced", 1, 20 * ref_steps),
        ("reduced", 16, 10 * ref_steps),
    ]
    ratios, per_step = {}, {}
    for method, members, steps in runs:
        per, err = engine_np(*sizes, steps, eta, method=method, n_members=members)
        ratio = ref / per
        ratios[(method, members)] = ratio
        per_step[(method, members)] = per
        print(f"  train_online {method:8s} E={members:<3d}    {per * 1e6:10.1f} us/step   {1 / per:10.0f} it/s   "
              f"ratio {ratio:7.1f}x   (epsilon after {steps}: {err:.3g})")
    # synaptic scaling of hidden neurons: incremental row norms (blocks of 32) against flushing W1 before every scaling
    scaling = bp.SynapticScaling()
    incremental, _ = engine_np(*sizes, ref_steps, eta, method="blocked", n_members=1, block_size=32, homeostasis=scaling)
    flushed, _ = engine_np(*sizes, ref_steps, eta, method="blocked", n_members=1, block_size=1, homeostasis=scaling)
    print(f"  synaptic scaling (blocked, E=1): incremental row norms {incremental * 1e6:.1f} us/step, "
          f"flush before every scaling {flushed * 1e6:.1f} us/step ({flushed / incremental:.1f}x slower); "
          f"ratio vs straightforward {ref / incremental:.1f}x")
    best_exact = max(r for (m, _), r in ratios.items() if m == "blocked")
    best_reduced = max(r for (m, _), r in ratios.items() if m == "reduced")
    blocked = min(per_step[k] for k in per_step if k[0] == "blocked")
    print(f"blocked engine: {blocked / gemm:.2f}x the W1 GEMM floor, {blocked / (noise + gemm):.2f}x GEMMs + noise drawn "
          "serially (the core's noise buffer draws the next chunk on a worker thread)")
    print(f"RATIO blocked (sample-path exact) vs straightforward: {best_exact:.1f}x per network")
    print(f"RATIO reduced (exact in distribution) vs straightforward: {best_reduced:.1f}x per network (goal >= 25x)")
    return ratios


if __name__ == "__main__":
    main(ARGS)
    sys.exit(0)
