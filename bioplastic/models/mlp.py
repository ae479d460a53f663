"""Multilayer perceptrons and deep linear networks."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .._validation import check_positive_int
from ..network import Network
from ..neurons import Population

__all__ = ["deep_linear", "mlp"]


def mlp(sizes, *, hidden="relu", readout="linear", noise="gaussian", init_scale=1.0, bias=True):
    """A multilayer perceptron with intrinsic noise in every hidden and output neuron.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths, input first, e.g. ``(784, 300, 10)``; any depth.
    hidden : str, default "relu"
        Activation of the hidden populations.
    readout : str, default "linear"
        Activation of the output population ("softmax" for the paper's MNIST network).
    noise : {"gaussian", "rademacher"} or None, default "gaussian"
    init_scale : float, default 1.0
        Factor on the Xavier-Glorot initial weights.
    bias : bool, default True

    Returns
    -------
    Network

    Raises
    ------
    TypeError
        If ``sizes`` is not a sequence (e.g. a single int) or a width is not an integer.
    ValueError
        If there are fewer than 2 sizes or a width is below 1.
    """
    if isinstance(sizes, np.ndarray) and sizes.ndim != 1:
        raise ValueError(f"sizes should be a 1-D sequence of layer widths, e.g. (784, 300, 10), got an array of shape {sizes.shape}")
    if not isinstance(sizes, (Sequence, np.ndarray)) or isinstance(sizes, (str, bytes)):
        raise TypeError(
            f"sizes should be a sequence of layer widths, input first, e.g. (784, 300, 10), got {sizes!r} of type {type(sizes).__name__}"
        )
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ValueError(f"mlp needs at least 2 sizes (input and output), got {sizes!r}")
    sizes = [check_positive_int(s, f"sizes[{i}]") for i, s in enumerate(sizes)]
    pops = [Population(sizes[0], noise=None, name="input")]
    pops += [Population(n, activation=hidden, noise=noise, name=f"hidden{i + 1}") for i, n in enumerate(sizes[1:-1])]
    pops.append(Population(sizes[-1], activation=readout, noise=noise, name="output"))
    return Network(pops, init_scale=init_scale, bias=bias)


def deep_linear(n_inputs, n_hidden, n_outputs, *, init_scale=1.0, noise="gaussian", bias=False):
    """One-hidden-layer linear student ``y = W2 W1 x`` (Hiratani et al. 2022, Sec. 3).

    Parameters
    ----------
    n_inputs, n_hidden, n_outputs : int
        ``Lx``, ``Lh``, ``Ly``.
    init_scale : float, default 1.0
        Factor on the Xavier-Glorot initial weights (Fig. 1C varies it).
    noise : {"gaussian", "rademacher"} or None, default "gaussian"
    bias : bool, default False

    Returns
    -------
    Network
    """
    return mlp((n_inputs, n_hidden, n_outputs), hidden="linear", readout="linear", noise=noise, init_scale=init_scale, bias=bias)
