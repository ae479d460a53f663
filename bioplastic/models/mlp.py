"""Multilayer perceptrons and deep linear networks."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .._validation import check_positive_int
from ..decorrelation import LateralDecorrelation
from ..network import Network
from ..neurons import LeakyReLU, Population, get_activation
from ..synapses import Projection

__all__ = ["deep_linear", "mlp"]


def mlp(sizes, *, hidden="relu", hidden_slope=None, readout="linear", noise="gaussian", init="xavier_normal", init_scale=1.0,
        bias=True, decorrelation=None):
    """A multilayer perceptron with intrinsic noise in every hidden and output neuron.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths, input first, e.g. ``(784, 300, 10)``; any depth.
    hidden : str or Activation, default "relu"
        Activation of the hidden populations, e.g. "relu", "tanh" or
        "leaky_relu" (:class:`~bioplastic.neurons.LeakyReLU`, slope 0.2).
    hidden_slope : float, optional
        Slope of the negative part of "leaky_relu" hidden units, in
        ``[0, 1)``; ``None`` keeps the activation's default (0.2).
        Only "leaky_relu" takes it.
    readout : str, default "linear"
        Activation of the output population ("softmax" for the paper's MNIST network).
    noise : {"gaussian", "rademacher"} or None, default "gaussian"
    init : {"xavier_normal", "he_normal", "zeros"}, default "xavier_normal"
        Initialisation of every projection (see
        :class:`~bioplastic.synapses.Projection`): Xavier-Glorot normal,
        ``N(0, 2 / (n_pre + n_post))``, or He normal, ``N(0, 2 / n_pre)``, as
        in deep rectifier networks.
    init_scale : float, default 1.0
        Factor on the initial weights.
    bias : bool, default True
    decorrelation : LateralDecorrelation or dict, optional
        Lateral decorrelation in front of the projections
        (:class:`~bioplastic.decorrelation.LateralDecorrelation`; a dict is
        taken as its parameters, as in a configuration file's
        ``decorrelation = {eta = 1e-3}``). Default: none.

    Returns
    -------
    Network

    Raises
    ------
    TypeError
        If ``sizes`` is not a sequence (e.g. a single int), a width is not an integer,
        or ``hidden_slope`` is not a real number.
    ValueError
        If there are fewer than 2 sizes or a width is below 1, if
        ``hidden_slope`` is given for a hidden activation other than
        "leaky_relu" or lies outside ``[0, 1)``, or if ``init`` is unknown.

    Examples
    --------
    A leaky-ReLU network with He-normal initial weights:

    >>> from bioplastic.models import mlp
    >>> net = mlp((784, 500, 10), hidden="leaky_relu", hidden_slope=0.2, init="he_normal", readout="softmax")
    >>> net.activations[0], net.projections[0].init
    (LeakyReLU(slope=0.2), 'he_normal')
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
    if hidden_slope is not None:
        hidden_name = get_activation(hidden).name
        if hidden_name != LeakyReLU.name:
            raise ValueError(f"hidden_slope applies to hidden='leaky_relu' only, got hidden_slope={hidden_slope!r} with hidden={hidden!r}")
        hidden = LeakyReLU(slope=hidden_slope)
    pops = [Population(sizes[0], noise=None, name="input")]
    pops += [Population(n, activation=hidden, noise=noise, name=f"hidden{i + 1}") for i, n in enumerate(sizes[1:-1])]
    pops.append(Population(sizes[-1], activation=readout, noise=noise, name="output"))
    projections = [
        Projection(pre, post, init=init, init_scale=init_scale, bias=bias) for pre, post in zip(sizes[:-1], sizes[1:], strict=True)
    ]
    if isinstance(decorrelation, dict):
        params = dict(decorrelation)
        if isinstance(params.get("layers"), list):
            params["layers"] = tuple(params["layers"])
        unknown = sorted(set(params) - set(LateralDecorrelation.param_names()))
        if unknown:
            raise ValueError(f"unknown decorrelation parameter(s) {unknown}; expected some of {list(LateralDecorrelation.param_names())}")
        decorrelation = LateralDecorrelation(**params)
    return Network(pops, projections=projections, init_scale=init_scale, bias=bias, decorrelation=decorrelation)


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
