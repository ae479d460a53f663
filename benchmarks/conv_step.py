"""Benchmark: one SGD (backprop) and one NP training step of a small CNN against their GEMM floors.

The CNN is CIFAR-10's small network, ``models.cnn((3, 32, 32), [conv 32
5x5 pad 2 pool 2, conv 64 5x5 pad 2 pool 2], 10, readout="softmax")``
(ReLU feature maps, cross-entropy, plain SGD), batch 64, float32, one
member, on random data of CIFAR-10's shape (the speed does not depend on
the data). Each step is timed as engine steps against its GEMM floor, in
the same run, interleaved step by step, best of ``--repeats``: the floor is
the time of exactly the matrix products the step makes (:func:`gemms` lists
them, derived from the code: the im2col GEMMs of the forward convolutions,
of NP's propagated change through the second convolution and of backprop's
transposed convolution, the kernel-update GEMMs, the dense readout's), each
an ``np.matmul`` on preallocated float32 arrays of the same shapes, with the
engine's BLAS threads. Goals: SGD <= 1.5x its floor, NP <= 2.0x its floor.
Misses are reported, not raised; the main ratio, NP step / NP floor, is
printed last. The same steps in PyTorch's CPU convolutions are reported too
(not a goal) where ``import torch`` works.

    python benchmarks/conv_step.py [--quick] [--steps N] [--repeats N]

``--quick`` runs a few steps on 8x8 images (a smoke test).
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

from bioplastic.ops.convolution import sample_blocks

IN_SHAPE = (3, 32, 32)
CONV_LAYERS = (dict(out_channels=32, kernel_size=5, padding=2, pool=2), dict(out_channels=64, kernel_size=5, padding=2, pool=2))
N_OUTPUTS = 10
BATCH = 64
STEPS = 5
QUICK_SHAPE = (3, 8, 8)
QUICK_BATCH = 8
QUICK_STEPS = 2
VARIANTS = ("SGD", "NP")
GOALS = {"SGD": 1.5, "NP": 2.0}  # step / floor


def network(in_shape):
    """The benchmark's CNN on images of ``in_shape``."""
    return bp.models.cnn(in_shape, [dict(layer) for layer in CONV_LAYERS], N_OUTPUTS, readout="softmax")


def rule(label):
    """The plasticity rule of a variant: backprop (SGD) or node perturbation (NP)."""
    return {"SGD": bp.Backprop, "NP": bp.NodePerturbation}[label]()


def make_engine(label, in_shape, batch, dtype=np.float32, seed=0):
    """A one-member numpy engine of a variant (cross-entropy, plain SGD)."""
    return NumpyEngine(network(in_shape), rule(label), bp.CrossEntropy(), seeds=[seed], batch_size=batch, dtype=dtype)


# -- the matrix products of one step ------------------------------------------------------------
# Each GEMM is (piece, m, k, n, layout): an (m x k) @ (k x n) product whose operands the code passes
# as they are ("N": rows contiguous) or as transposed views ("T": BLAS reads them in place), layout
# naming the left then the right operand. One member (E = 1). A convolution takes the batch in the
# blocks of samples of ops/convolution.py sample_blocks (bytes per sample: the sample's patches, or
# columns, for all members one GEMM multiplies); P = out_h out_w (positions before pooling), O (n_out) the
# output channels, n_cols = in_channels kh kw. Pooling, the bias and the activations are element-wise: no products.

def _blocks(batch, n_cols, positions, itemsize):
    return sample_blocks(batch, n_cols * positions * itemsize)


def _conv(projection):
    """``(n_cols, P, out_channels)`` of a convolutional projection."""
    out_channels, in_channels, kh, kw = projection.shape
    return in_channels * kh * kw, projection.conv_shape[1] * projection.conv_shape[2], out_channels


def _input(network, k, B, itemsize, piece):
    # ops/layers.py conv_projection_input -> ops/convolution.py conv2d: per block of samples,
    # the stacked kernels (O, n_cols) times the block's patches (n_cols, block P), both C order;
    # ops/passes.py affine (dense): x (B, n_pre) @ W^T (n_pre, n_post), W^T a transposed view.
    projection = network.projections[k]
    if projection.kind == "conv":
        n_cols, P, n_out = _conv(projection)
        return [(f"{piece}: conv{k + 1} W * x", n_out, n_cols, (hi - lo) * P, "NN") for lo, hi in _blocks(B, n_cols, P, itemsize)]
    return [(f"{piece}: dense{k + 1} x W^T", B, projection.n_pre, projection.n_post, "NT")]


def _transpose(network, k, B, itemsize):
    # ops/backprop.py backprop_deltas: projection k carries its delta down. Convolutional:
    # ops/layers.py conv_projection_transpose -> ops/convolution.py conv2d_input_gradient, per
    # block of samples kernels^T (n_cols, O) (a transposed view) @ delta (O, block P); dense:
    # delta (B, n_post) @ W (n_post, n_pre).
    projection = network.projections[k]
    if projection.kind == "conv":
        n_cols, P, n_out = _conv(projection)
        return [(f"backprop: conv{k + 1} W^T delta", n_cols, n_out, (hi - lo) * P, "TN") for lo, hi in _blocks(B, n_cols, P, itemsize)]
    return [(f"backprop: dense{k + 1} delta W", B, projection.n_post, projection.n_pre, "NN")]


def _update(network, k, B, itemsize):
    # ops/outer.py deltas_to_updates. Convolutional: ops/layers.py conv_projection_update ->
    # ops/convolution.py conv2d_weight_update, per block of samples delta (O, block P) @ the
    # block's patches (block P, n_cols), a transposed view; the blocks' products are added (the first
    # block's patches are those the forward pass left in the workspace: one copy fewer, no product fewer). Dense
    # (the readout: n_pre + 1 > n_post): the scaled postsynaptic factor in the (neuron, sample)
    # layout (n_post, B) @ x (B, n_pre) (outer_sum_transposed); biases are sums, not products.
    projection = network.projections[k]
    if projection.kind == "conv":
        n_cols, P, n_out = _conv(projection)
        return [(f"updates: conv{k + 1} delta patches", n_out, (hi - lo) * P, n_cols, "NT") for lo, hi in _blocks(B, n_cols, P, itemsize)]
    return [(f"updates: dense{k + 1} post^T x", projection.n_post, B, projection.n_pre, "NN")]


def gemms(label, in_shape, batch, itemsize=4):
    """The matrix products of one engine step of a variant: list of ``(piece, m, k, n, layout)``.

    * SGD (plasticity/backprop.py): the clean forward pass, the backward pass (every projection
      but the first carries its delta down), the updates of every projection.
    * NP (plasticity/node_perturbation.py, one draw with a clean pass): the clean pass, the
      perturbed pass propagated from the first layer (ops/perturbation.py _propagate: every
      population is noisy, so the change starts as the first layer's noise, without a product,
      and passes through every projection above it), the updates (the postsynaptic factor is
      the noise).
    """
    net = network(in_shape)
    layers = range(net.n_layers)
    out = [g for k in layers for g in _input(net, k, batch, itemsize, "forward")]
    if label == "SGD":
        out += [g for k in range(net.n_layers - 1, 0, -1) for g in _transpose(net, k, batch, itemsize)]
    elif label == "NP":
        out += [g for k in layers[1:] for g in _input(net, k, batch, itemsize, "perturbation")]
    else:
        raise ValueError(f"unknown variant {label!r}; expected one of {VARIANTS}")
    out += [g for k in layers for g in _update(net, k, batch, itemsize)]
    return out


def gemm_counts(label, in_shape, batch):
    """``Counter`` of the ``(m, k, n, layout)`` of a variant's GEMMs (what the tests compare with the engine's calls)."""
    return Counter(tuple(g[1:]) for g in gemms(label, in_shape, batch))


def gemm_flops(products):
    """Floating-point operations of a list of GEMMs, ``2 m k n`` each."""
    return sum(2.0 * m * k * n for _, m, k, n, _ in products)


def step_and_floor(label, in_shape, batch, xs, ys, n_steps, dtype, rng):
    """Seconds for ``n_steps`` engine steps of a variant and for its floor, interleaved step by step.

    Each engine step (the batches of ``xs``, ``ys`` cycled) is followed by
    the floor's products of one step, so that both see the same load from
    other processes; the products run inside the engine's
    :meth:`~bioplastic.engines.numpy.NumpyEngine.running`, with its BLAS
    threads. Returns ``(steps, floor)``.
    """
    engine = make_engine(label, in_shape, batch, dtype)
    calls = floor_calls(gemms(label, in_shape, batch, np.dtype(dtype).itemsize), rng, dtype)
    scale = np.array([1e-3], dtype=dtype)
    return interleaved_steps(engine, calls, xs, ys, n_steps, scale, warm_up=True)


def torch_steps(in_shape, batch, xs, ys, n_steps, repeats, threads):
    """Best seconds per step of the same SGD and NP steps in PyTorch's CPU convolutions, or ``None`` without PyTorch.

    SGD: forward, ``backward()`` and the SGD update. NP: the clean
    forward pass, the perturbed pass (the noise added to every summed
    input, the change propagated as in the engine: the second convolution
    and the readout applied to the change of the rates), the kernel updates
    from ``torch.nn.grad.conv2d_weight`` with the noise, times the
    neuromodulator, as the output gradient.
    """
    try:
        import torch
    except ImportError:
        return None
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    net = network(in_shape)
    params = []
    for proj in net.projections:
        shape = proj.shape if proj.kind == "conv" else (proj.n_post, proj.n_pre)
        params.append((torch.randn(shape) * 0.05, torch.zeros(shape[0])))
    convs = [proj for proj in net.projections if proj.kind == "conv"]
    x_all = [torch.from_numpy(np.ascontiguousarray(x)).reshape(batch, *in_shape) for x in xs]
    y_all = [torch.from_numpy(np.ascontiguousarray(y)).argmax(1) for y in ys]
    sigma, eta = 1e-4, 1e-3

    def layer(k, h_in, with_bias=True):
        w, b = params[k]
        if k < len(convs):
            h = F.conv2d(h_in, w, None, padding=convs[k].padding)
            h = F.avg_pool2d(h, convs[k].pool) if convs[k].pool else h
            return h + b[:, None, None] if with_bias else h
        return F.linear(h_in.flatten(1), w, b if with_bias else None)

    def sgd(x, y):
        ws = [p.requires_grad_(True) for pair in params for p in pair]
        h = x
        for k in range(len(params)):
            h = layer(k, h)
            h = torch.relu(h) if k < len(params) - 1 else h
        F.cross_entropy(h, y, reduction="mean").backward()
        with torch.no_grad():
            for p in ws:
                p -= eta * p.grad
                p.grad = None
                p.requires_grad_(False)

    def np_step(x, y):
        with torch.no_grad():
            pres, hs = [], []
            r = x
            for k in range(len(params)):
                pres.append(r)
                h = layer(k, r)
                hs.append(h)
                r = torch.relu(h) if k < len(params) - 1 else h
            noise = [torch.randn_like(h) for h in hs]
            dx = None
            for k in range(len(params)):
                dh = sigma * noise[k] if dx is None else layer(k, dx, with_bias=False) + sigma * noise[k]
                dx = (torch.relu(hs[k] + dh) - torch.relu(hs[k])) if k < len(params) - 1 else dh
            clean = F.cross_entropy(hs[-1], y, reduction="none")
            noisy = F.cross_entropy(hs[-1] + dx, y, reduction="none")
            modulator = -(noisy - clean) / sigma**2 * eta / batch
            for k, (w, b) in enumerate(params):
                post = noise[k] * modulator.reshape(-1, *([1] * (noise[k].dim() - 1)))
                if k < len(convs):
                    up = F.interpolate(post, scale_factor=convs[k].pool) / convs[k].pool**2 if convs[k].pool else post
                    w += torch.nn.grad.conv2d_weight(pres[k], w.shape, up, padding=convs[k].padding)
                    b += post.sum((0, 2, 3))
                else:
                    w += post.T @ pres[k].flatten(1)
                    b += post.sum(0)

    best = {}
    for label, step in (("SGD", sgd), ("NP", np_step)):
        step(x_all[0], y_all[0])
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            for i in range(n_steps):
                step(x_all[i % len(x_all)], y_all[i % len(y_all)])
            times.append((time.perf_counter() - start) / n_steps)
        best[label] = min(times)
    return best, torch.__version__


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_STEPS} steps on {QUICK_SHAPE[1]}x{QUICK_SHAPE[2]} images (a smoke test)")
    parser.add_argument("--steps", type=int, default=STEPS, help=f"timed steps per repeat (default: {STEPS})")
    parser.add_argument("--repeats", type=int, default=3, help="repeats; the best time of each is kept")
    args = parser.parse_args(argv)
    in_shape, batch = (QUICK_SHAPE, QUICK_BATCH) if args.quick else (IN_SHAPE, BATCH)
    n_steps = QUICK_STEPS if args.quick else args.steps
    repeats = 1 if args.quick else args.repeats
    dtype = np.float32
    rng = np.random.default_rng(0)
    n_batches = min(n_steps, 4)  # distinct minibatches, cycled
    n_in = int(np.prod(in_shape))
    xs = rng.random((n_batches, batch, n_in), dtype=dtype)
    ys = np.eye(N_OUTPUTS, dtype=dtype)[rng.integers(0, N_OUTPUTS, (n_batches, batch))]
    threads = set()
    for label in VARIANTS:  # the BLAS threads of each engine's steps (and so of its floor)
        with make_engine(label, in_shape, batch, dtype).running():
            threads.add(current_blas_threads() or 1)
    products = {label: gemms(label, in_shape, batch) for label in VARIANTS}

    floors = {label: [] for label in VARIANTS}
    steps = {label: [] for label in VARIANTS}
    for _ in range(repeats):  # interleaved (variants; engine step and floor step), best of each: robust to load from other processes
        for label in VARIANTS:
            step, floor = step_and_floor(label, in_shape, batch, xs, ys, n_steps, dtype, rng)
            steps[label].append(step / n_steps)
            floors[label].append(floor / n_steps)
    floor = {label: min(t) for label, t in floors.items()}
    step = {label: min(t) for label, t in steps.items()}
    torch_result = torch_steps(in_shape, batch, xs, ys, n_steps, repeats, max(threads))

    blas, hint = blas_description()
    c, h, w = in_shape
    source = "random data of CIFAR-10's shape" if tuple(in_shape) == IN_SHAPE else "random data"
    layers = ", ".join(f"conv {d['out_channels']} {d['kernel_size']}x{d['kernel_size']} pad {d['padding']} pool {d['pool']}" for d in CONV_LAYERS)
    print(f"CNN {c}x{h}x{w} ({layers}, readout {N_OUTPUTS} softmax; ReLU, cross-entropy, SGD), batch {batch}, float32, one member, "
          f"{n_steps} steps ({source}), best of {repeats}")
    print(f"{blas}; the engines' steps and the floors use {'/'.join(map(str, sorted(threads)))} BLAS thread(s)")
    if hint:
        print(f"hint: {hint}")
    print(f"{'variant':8s} {'GEMMs':>5s} {'GFLOP/step':>10s} {'floor ms':>9s} {'step ms':>9s} {'step/floor':>10s}")
    ratio = {label: step[label] / floor[label] for label in VARIANTS}
    for label in VARIANTS:
        print(f"{label:8s} {len(products[label]):5d} {gemm_flops(products[label]) / 1e9:10.2f} {floor[label] * 1e3:9.1f} "
              f"{step[label] * 1e3:9.1f} {ratio[label]:9.2f}x")
    if torch_result is None:
        print("PyTorch: not installed (import torch failed), its CPU convolutions not timed")
    else:
        best, version = torch_result
        print(f"PyTorch {version} CPU convolutions ({max(threads)} thread(s)): "
              + ", ".join(f"{label} {best[label] * 1e3:.1f} ms/step ({step[label] / best[label]:.2f}x of it here)" for label in VARIANTS))
    for label in VARIANTS:
        verdict = "PASS" if ratio[label] <= GOALS[label] else "MISS"
        print(f"goal {label}/floor <= {GOALS[label]}x: {ratio[label]:.2f}x  {verdict}")
    print(f"ratio SGD/floor: {ratio['SGD']:6.2f}   (goal <= {GOALS['SGD']})")
    print(f"ratio NP/floor: {ratio['NP']:6.2f}   (goal <= {GOALS['NP']})")
    return {"ratio": ratio, "step": step, "floor": floor}


if __name__ == "__main__":
    main()
