"""Benchmark: one epoch of BP, NP, INP, ANP and their decorrelated variants against backprop and their GEMM floors.

A 784-256-256-256-10 MLP (leaky ReLU hidden units, softmax readout,
cross-entropy, Adam), batch 1000, float32, one member; 60 steps make an
epoch (MNIST's 60,000 images; random data of that shape, since the speed
does not depend on the data). Each variant's epoch is timed as engine steps,
with two ratios measured in the same run, interleaved, best of
``--repeats``:

* epoch / backprop's (BP) epoch;
* epoch / its GEMM floor: the time of exactly the matrix products the
  variant's step does (:func:`gemms` lists them, derived from the code),
  each an ``np.matmul`` on preallocated float32 arrays of the same shapes
  and layouts, run after every engine step (so both see the same load)
  with the engine's BLAS threads.

The D-variants are the same rules in a network with lateral decorrelation
(``LateralDecorrelation(eta=1e-3)`` in front of every projection). Goals:
ANP and DANP <= 2.0x their floor (decorrelation included); INP's extra
passes cost what their matrix products predict (INP/floor within 1.25x of
NP/floor, and DINP against DNP). The main ratio, DANP epoch / DANP floor,
is printed last. Misses are reported, not raised.

    python benchmarks/np_variants.py [--quick] [--steps N] [--repeats N]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

import bioplastic as bp
from bioplastic._threads import blas_description, current_blas_threads
from bioplastic.engines.numpy import NumpyEngine

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the benchmarks' shared helpers
from _gemm_floor import floor_calls, interleaved_steps  # noqa: E402

SIZES = (784, 256, 256, 256, 10)
BATCH = 1000
STEPS = 60  # 60,000 images / 1000
QUICK_SIZES = (196, 64, 64, 64, 10)
QUICK_BATCH = 100
QUICK_STEPS = 3
VARIANTS = ("BP", "DBP", "NP", "DNP", "INP", "DINP", "ANP", "DANP")
GOAL_FLOOR = 2.0  # ANP, DANP: epoch / floor
GOAL_INP = 1.25  # (INP / floor) / (NP / floor), and DINP against DNP


def rule(label):
    """The plasticity rule of a variant (``"D"`` prefix: the same rule, the network decorrelated)."""
    base = label[1:] if label.startswith("D") else label
    return {
        "BP": bp.Backprop,
        "NP": lambda: bp.NodePerturbation(sigma=1e-3),
        "INP": bp.IterativeNodePerturbation,
        "ANP": bp.ActivityNodePerturbation,
    }[base]()


def network(label, sizes):
    """The MLP of a variant: leaky-ReLU (else ReLU) hidden units, softmax readout; lateral decorrelation for the D-variants."""
    decorrelation = bp.LateralDecorrelation(eta=1e-3) if label.startswith("D") else None
    try:
        return bp.models.mlp(sizes, hidden="leaky_relu", readout="softmax", decorrelation=decorrelation)
    except (KeyError, ValueError):  # no leaky ReLU
        return bp.models.mlp(sizes, hidden="relu", readout="softmax", decorrelation=decorrelation)


def make_engine(label, sizes, batch, dtype=np.float32, seed=0):
    """A one-member numpy engine of a variant (cross-entropy, Adam)."""
    return NumpyEngine(network(label, sizes), rule(label), bp.CrossEntropy(), seeds=[seed], batch_size=batch, dtype=dtype,
                       optimiser=bp.Adam())


# -- the matrix products of one step ------------------------------------------------------------
# Each GEMM is (m, k, n, layout): an (m x k) @ (k x n) product whose operands the code passes as
# they are ("N", C order) or as transposed views ("T", e.g. W.transpose(0, 2, 1): BLAS reads them in
# place), layout naming the left then the right operand; "gram": the left operand is the right one
# transposed (the same array), which numpy computes as a symmetric rank-k update (SYRK, half the
# multiply-adds). n[0] is the input width, n[k + 1] the width of the population after projection
# k; B the batch; L the number of projections. The widths must not increase (n[k] + 1 >= n[k + 1]),
# as in the benchmark's MLP: deltas_to_updates then scales the postsynaptic factor and its GEMM has
# n_pre columns (no bias column).

def _forward(n, B, decorrelated):
    # ops/passes.py forward(): per projection k, decorrelate() x*_k = x_k R_k^T where R_k exists,
    # (B, n_k) @ (n_k, n_k), then affine() h_k = x*_k W_k^T, (B, n_k) @ (n_k, n_{k+1}).
    out = []
    for k in range(len(n) - 1):
        if decorrelated:
            out.append(("forward: x R^T", B, n[k], n[k], "NT"))
        out.append(("forward: x W^T", B, n[k], n[k + 1], "NT"))
    return out


def _backprop(n, B, decorrelated):
    # ops/backprop.py backprop_deltas(): for k = L-2 .. 0, back = delta_{k+1} W_{k+1},
    # (B, n_{k+2}) @ (n_{k+2}, n_{k+1}); behind R_{k+1} also back R_{k+1}, (B, n_{k+1}) @ (n_{k+1}, n_{k+1}).
    out = []
    for k in range(len(n) - 3, -1, -1):
        out.append(("backprop: delta W", B, n[k + 2], n[k + 1], "NN"))
        if decorrelated:
            out.append(("backprop: back R", B, n[k + 1], n[k + 1], "NN"))
    return out


def _propagate(n, B, decorrelated, first):
    # ops/perturbation.py _propagate(): the change dx starts at the first perturbed layer `first`
    # (dh = sigma xi there, no product); for every projection k above it, dx R_k^T where R_k exists,
    # (B, n_k) @ (n_k, n_k), then dh_k = dx W_k^T, (B, n_k) @ (n_k, n_{k+1}).
    out = []
    for k in range(first + 1, len(n) - 1):
        if decorrelated:
            out.append(("perturbation: dx R^T", B, n[k], n[k], "NT"))
        out.append(("perturbation: dx W^T", B, n[k], n[k + 1], "NT"))
    return out


def _updates(n, B):
    # ops/outer.py deltas_to_updates(): one GEMM per plastic layer, the scaled postsynaptic
    # factor, written in the (neuron, sample) layout, (n_{k+1}, B) @ x*_k (B, n_k) (outer_sum_transposed);
    # the bias is a sum, not a product.
    return [("updates: post^T x*", n[k + 1], B, n[k], "NN") for k in range(len(n) - 1)]


def _decorrelation(n, B):
    # decorrelation.py LateralDecorrelation.update(), per decorrelated projection k (all of them):
    # with B >= n_k, the moments X*^T X* (swapaxes of X* itself: a Gram matrix), (n_k, B) @ (B, n_k),
    # then the change offdiag(M) R, (n_k, n_k) @ (n_k, n_k); with B < n_k, X*^T (X* R): first
    # X* R, (B, n_k) @ (n_k, n_k), then X*^T times it, (n_k, B) @ (B, n_k) (two arrays: no Gram).
    out = []
    for k in range(len(n) - 1):
        if B >= n[k]:
            out.append(("decorrelation: X*^T X*", n[k], B, n[k], "gram"))
            out.append(("decorrelation: offdiag(M) R", n[k], n[k], n[k], "NN"))
        else:
            out.append(("decorrelation: X* R", B, n[k], n[k], "NN"))
            out.append(("decorrelation: X*^T (X* R)", n[k], B, n[k], "TN"))
    return out


def gemms(label, sizes, batch):
    """The matrix products of one engine step of a variant: list of ``(piece, m, k, n, layout)``.

    * BP (plasticity/backprop.py): the clean forward pass, the backward pass, the updates.
    * NP (plasticity/node_perturbation.py, one draw with a clean pass): the clean pass, one
      perturbed pass propagated from layer 0 (every layer is perturbed), the updates (the
      postsynaptic factor is the noise).
    * INP (plasticity/iterative_node_perturbation.py): the clean pass, one partial perturbed pass
      per layer ``l`` propagated from ``l`` upward (_perturbation.py noisy_passes, only=l), the
      updates once (_combine sums each layer's postsynaptic factors first).
    * ANP (plasticity/activity_node_perturbation.py): as NP (the postsynaptic factor is the
      measured change of the summed inputs).
    * D-variants: the same with the lateral matrices in the passes, plus the decorrelation update
      (engines/numpy.py _step_block, after the directions). Adam is element-wise: no products.
    """
    n, B = tuple(sizes), batch
    if any(a + 1 < b for a, b in zip(n[:-1], n[1:], strict=True)):
        raise ValueError(f"gemms assumes widths that do not increase (n_k + 1 >= n_(k+1)), got sizes {n}")
    d = label.startswith("D")
    base = label[1:] if d else label
    out = _forward(n, B, d)
    if base == "BP":
        out += _backprop(n, B, d)
    elif base in ("NP", "ANP"):
        out += _propagate(n, B, d, first=0)
    elif base == "INP":
        for layer in range(len(n) - 1):
            out += _propagate(n, B, d, first=layer)
    else:
        raise ValueError(f"unknown variant {label!r}; expected one of {VARIANTS}")
    out += _updates(n, B)
    if d:
        out += _decorrelation(n, B)
    return out


def gemm_counts(label, sizes, batch):
    """``Counter`` of the ``(m, k, n, layout)`` of a variant's GEMMs (what the tests compare with the engine's calls)."""
    return Counter(tuple(g[1:]) for g in gemms(label, sizes, batch))


def gemm_flops(products):
    """Floating-point operations of a list of GEMMs, ``2 m k n`` each (``m (m + 1) k`` for a Gram matrix)."""
    return sum((m + 1) * k * n if layout == "gram" else 2.0 * m * k * n for _, m, k, n, layout in products)


def epoch_and_floor(label, sizes, batch, xs, ys, n_steps, dtype, rng):
    """Seconds for ``n_steps`` engine steps of a variant and for its floor, interleaved step by step.

    Each engine step (the batches of ``xs``, ``ys`` cycled) is followed by
    the floor's products of one step, so that both see the same load from
    other processes; the products run inside the engine's
    :meth:`~bioplastic.engines.numpy.NumpyEngine.running`, with its BLAS
    threads. Returns ``(epoch, floor)``.
    """
    engine = make_engine(label, sizes, batch, dtype)
    calls = floor_calls(gemms(label, sizes, batch), rng, dtype)
    scale = np.array([1e-4], dtype=dtype)
    return interleaved_steps(engine, calls, xs, ys, n_steps, scale)


def adam_seconds(sizes, n_steps, rng, dtype):
    """Seconds for ``n_steps`` Adam steps on parameters of the MLP's shapes (one member)."""
    shapes = {}
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        shapes[f"W{k}"], shapes[f"b{k}"] = (1, b, a), (1, b)
    params = {key: rng.standard_normal(s).astype(dtype) for key, s in shapes.items()}
    grads = {key: rng.standard_normal(s).astype(dtype) for key, s in shapes.items()}
    adam = bp.Adam()
    state = adam.init_state(params)
    lr = np.array([1e-4], dtype=dtype)
    start = time.perf_counter()
    for _ in range(n_steps):
        adam.step(params, grads, lr, state)
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_STEPS} steps of a smaller network (a smoke test)")
    parser.add_argument("--steps", type=int, default=STEPS, help=f"steps per epoch (default: {STEPS} = 60,000 / {BATCH})")
    parser.add_argument("--repeats", type=int, default=3, help="repeats; the best time of each is kept")
    args = parser.parse_args(argv)
    sizes, batch = (QUICK_SIZES, QUICK_BATCH) if args.quick else (SIZES, BATCH)
    n_steps = QUICK_STEPS if args.quick else args.steps
    repeats = 1 if args.quick else args.repeats
    dtype = np.float32
    rng = np.random.default_rng(0)
    n_batches = min(n_steps, 10)  # distinct minibatches, cycled (the speed does not depend on the data)
    xs = rng.random((n_batches, batch, sizes[0]), dtype=dtype)
    ys = np.eye(sizes[-1], dtype=dtype)[rng.integers(0, sizes[-1], (n_batches, batch))]
    threads = set()
    for label in VARIANTS:  # the BLAS threads of each engine's steps (and so of its floor)
        with make_engine(label, sizes, batch, dtype).running():
            threads.add(current_blas_threads() or 1)
    threads = "/".join(map(str, sorted(threads)))
    products = {label: gemms(label, sizes, batch) for label in VARIANTS}

    floors = {label: [] for label in VARIANTS}
    epochs = {label: [] for label in VARIANTS}
    adams = []
    for _ in range(repeats):  # interleaved (variants; engine step and floor step), best of each: robust to load from other processes
        for label in VARIANTS:
            epoch, floor = epoch_and_floor(label, sizes, batch, xs, ys, n_steps, dtype, rng)
            epochs[label].append(epoch)
            floors[label].append(floor)
        with make_engine("BP", sizes, batch, dtype).running():  # Adam as the engine runs it: its BLAS threads
            adams.append(adam_seconds(sizes, n_steps, rng, dtype))
    floor = {label: min(t) for label, t in floors.items()}
    epoch = {label: min(t) for label, t in epochs.items()}
    adam = min(adams)

    blas, hint = blas_description()
    hidden = network("BP", sizes).activations[0]
    print(f"{'-'.join(map(str, sizes))} MLP ({hidden} hidden, softmax, cross-entropy, Adam), batch {batch}, float32, "
          f"{n_steps} steps (random data of MNIST's shape), best of {repeats}")
    print(f"{blas}; the engines' steps and the floors use {threads} BLAS thread(s)")
    if hint:
        print(f"hint: {hint}")
    print(f"{'variant':8s} {'GEMMs':>5s} {'GFLOP/step':>10s} {'floor ms':>9s} {'epoch ms':>9s} {'epoch/BP':>8s} {'epoch/floor':>11s}")
    to_floor = {label: epoch[label] / floor[label] for label in VARIANTS}
    for label in VARIANTS:
        print(f"{label:8s} {len(products[label]):5d} {gemm_flops(products[label]) / 1e9:10.2f} {floor[label] * 1e3:9.1f} "
              f"{epoch[label] * 1e3:9.1f} {epoch[label] / epoch['BP']:7.2f}x {to_floor[label]:10.2f}x")
    print(f"Adam (element-wise, outside the floors): {adam * 1e3:.1f} ms per epoch, {adam / epoch['BP']:.1%} of BP's epoch")
    for label in ("ANP", "DANP"):
        verdict = "PASS" if to_floor[label] <= GOAL_FLOOR else "MISS"
        print(f"goal {label}/floor <= {GOAL_FLOOR}x (decorrelation included): {to_floor[label]:.2f}x  {verdict}")
    for iterative, plain in (("INP", "NP"), ("DINP", "DNP")):
        relative = to_floor[iterative] / to_floor[plain]
        verdict = "PASS" if relative <= GOAL_INP else "MISS"
        print(f"goal {iterative} extra passes cost their matrix products: ({iterative}/floor) / ({plain}/floor) = "
              f"{to_floor[iterative]:.2f} / {to_floor[plain]:.2f} = {relative:.2f} <= {GOAL_INP}  {verdict}")
    print(f"ratio DANP/floor: {to_floor['DANP']:6.2f}   (goal <= {GOAL_FLOOR})")
    return {"to_bp": {label: epoch[label] / epoch["BP"] for label in VARIANTS}, "to_floor": to_floor}


if __name__ == "__main__":
    main()
