"""Convolutional networks: retinotopic feature maps, then all-to-all readout."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .._validation import check_positive_int
from ..network import Network
from ..neurons import Population
from ..synapses import ConvProjection, Projection

__all__ = ["cnn"]

_LAYER_KEYS = ("out_channels", "kernel_size", "stride", "padding", "pool")


def cnn(in_shape, conv_layers, n_outputs, *, dense=(), hidden="relu", readout="linear", noise="gaussian", init="xavier_normal",
        init_scale=1.0, bias=True):
    """A convolutional network with intrinsic noise in every unit of every feature map, hidden layer and output.

    Parameters
    ----------
    in_shape : (int, int, int)
        ``(channels, height, width)`` of the stimulus, e.g. ``(3, 32, 32)`` for CIFAR-10.
    conv_layers : sequence of dict
        One per convolutional projection, with ``out_channels`` and
        ``kernel_size`` and optionally ``stride`` (1), ``padding`` (0) and
        ``pool`` (average pooling window, none); see
        :class:`~bioplastic.synapses.ConvProjection`.
    n_outputs : int
    dense : sequence of int, default ()
        Widths of all-to-all hidden layers between the last feature maps and the readout.
    hidden, readout : str
        Activations of the hidden populations (feature maps included) and of the readout.
    noise : {"gaussian", "rademacher"} or None, default "gaussian"
    init : {"xavier_normal", "he_normal", "zeros"}, default "xavier_normal"
    init_scale : float, default 1.0
    bias : bool, default True

    Returns
    -------
    Network

    Examples
    --------
    The small CIFAR-10 network: conv 3->32 5x5, pool 2, conv 32->64 5x5, pool 2, readout 10.

    >>> from bioplastic.models import cnn
    >>> net = cnn((3, 32, 32), [dict(out_channels=32, kernel_size=5, padding=2, pool=2),
    ...                         dict(out_channels=64, kernel_size=5, padding=2, pool=2)], 10, readout="softmax")
    >>> net.sizes
    (3072, 8192, 4096, 10)
    """
    if not isinstance(conv_layers, Sequence) or isinstance(conv_layers, (str, bytes)) or not conv_layers:
        raise TypeError(f"conv_layers should be a non-empty sequence of dicts (out_channels, kernel_size, ...), got {conv_layers!r}")
    shape = tuple(in_shape)
    pops = [Population(int(shape[0] * shape[1] * shape[2]), noise=None, name="input")]
    projections = []
    for i, layer in enumerate(conv_layers):
        if not isinstance(layer, Mapping):
            raise TypeError(f"conv_layers[{i}] should be a dict with out_channels and kernel_size, got {layer!r}")
        unknown = sorted(set(layer) - set(_LAYER_KEYS))
        if unknown or "out_channels" not in layer or "kernel_size" not in layer:
            raise ValueError(f"conv_layers[{i}] = {dict(layer)!r}: needs out_channels and kernel_size, may have {list(_LAYER_KEYS[2:])}"
                             + (f"; unknown {unknown}" if unknown else ""))
        conv = ConvProjection(shape, init=init, init_scale=init_scale, bias=bias, **layer)
        projections.append(conv)
        shape = conv.out_shape
        pops.append(Population(conv.n_post, activation=hidden, noise=noise, name=f"maps{i + 1}"))
    widths = [conv.n_post] + [check_positive_int(w, f"dense[{j}]") for j, w in enumerate(dense)]
    for j, width in enumerate(widths[1:]):
        projections.append(Projection(widths[j], width, init=init, init_scale=init_scale, bias=bias))
        pops.append(Population(width, activation=hidden, noise=noise, name=f"hidden{j + 1}"))
    projections.append(Projection(widths[-1], check_positive_int(n_outputs, "n_outputs"), init=init, init_scale=init_scale, bias=bias))
    pops.append(Population(n_outputs, activation=readout, noise=noise, name="output"))
    return Network(pops, projections=projections, init_scale=init_scale, bias=bias)
