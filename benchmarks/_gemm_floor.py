"""What the GEMM-floor benchmarks share: the floor's preallocated products, and engine steps interleaved with them.

A benchmark lists the matrix products one step of the code does as
``(piece, m, k, n, layout)`` (``layout``: two letters, ``N`` for a plain
operand and ``T`` for a transposed view, or ``"gram"`` for ``X^T X`` with one
array), then times engine steps and those products alternately, so that both
see the same load from other processes.
"""

from __future__ import annotations

import time

import numpy as np

__all__ = ["floor_calls", "interleaved_steps"]


def floor_calls(products, rng, dtype):
    """``(a, b, out)`` of each product: preallocated arrays of its shapes, in the code's layouts."""

    def operand(rows, cols, layout):
        return rng.standard_normal((rows, cols)).astype(dtype) if layout == "N" else rng.standard_normal((cols, rows)).astype(dtype).T

    arrays = {}
    for _, m, k, n, layout in products:
        if (m, k, n, layout) in arrays:
            continue
        if layout == "gram":  # X^T X with one array X of shape (k, n), n = m
            x = operand(k, n, "N")
            arrays[m, k, n, layout] = (x.T, x, np.empty((m, n), dtype=dtype))
        else:
            arrays[m, k, n, layout] = (operand(m, k, layout[0]), operand(k, n, layout[1]), np.empty((m, n), dtype=dtype))
    return [arrays[tuple(g[1:])] for g in products]


def interleaved_steps(engine, calls, xs, ys, n_steps, scale, *, warm_up=False):
    """Seconds of ``n_steps`` engine steps and of the floor's products after each, ``(steps, floor)``.

    The batches of ``xs``, ``ys`` are cycled; the products run inside the
    engine's :meth:`~bioplastic.engines.numpy.NumpyEngine.running`, with its
    BLAS threads. ``warm_up``: one untimed step first (it allocates the
    scratch arrays).
    """
    steps = floor = 0.0
    engine.start_epoch(n_steps + bool(warm_up))
    with engine.running():
        if warm_up:
            engine.step(xs[0], ys[0], scale)
        for i in range(n_steps):
            start = time.perf_counter()
            engine.step(xs[i % len(xs)], ys[i % len(ys)], scale)
            middle = time.perf_counter()
            for a, b, out in calls:
                np.matmul(a, b, out=out)
            end = time.perf_counter()
            steps += middle - start
            floor += end - middle
    return steps, floor
