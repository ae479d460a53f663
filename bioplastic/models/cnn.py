"""Convolutional networks: retinotopic feature maps, then all-to-all readout."""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence

from .._validation import check_positive_int
from ..network import Network
from ..neurons import Population
from ..synapses import ConvProjection, Projection

__all__ = ["cnn", "knet"]

_LAYER_KEYS = ("out_channels", "kernel_size", "stride", "padding", "pool", "pool_mode")


def cnn(in_shape, conv_layers, n_outputs, *, dense=(), hidden="relu", readout="linear", noise="gaussian", init="xavier_normal",
        init_scale=1.0, bias=True):
    """A convolutional network with intrinsic noise in every unit of every feature map, hidden layer and output.

    Parameters
    ----------
    in_shape : (int, int, int)
        ``(channels, height, width)`` of the stimulus, e.g. ``(3, 32, 32)`` for CIFAR-10.
    conv_layers : sequence of dict
        One per convolutional projection, with ``out_channels`` and
        ``kernel_size`` and optionally ``stride`` (1), ``padding`` (0),
        ``pool`` (pooling window, none) and ``pool_mode`` (``"average"``,
        the default, or ``"max"``); see
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


#: The convolutions of :func:`knet`: ``(out_channels, kernel_size, padding)``, each followed by 2x2 pooling.
_KNET_CONVOLUTIONS = ((32, 5, 2), (32, 5, 2), (64, 5, 2))


def knet(*, in_shape=(3, 32, 32), n_outputs=10, dense=None, pool_mode="average", hidden="relu", readout="softmax", noise="gaussian",
         init="xavier_normal", init_scale=1.0, bias=True):
    """The Krizhevsky-style CIFAR-10 network of Nayebi et al. (2020): three 5x5 convolutions, then a readout.

    Convolutions of 32, 32 and 64 output channels, ``5 x 5`` kernels with
    padding 2 (the maps keep their size), each followed by ``2 x 2``
    pooling (windows side by side, halving each map) and the ``hidden``
    activation; then, optionally, one all-to-all hidden layer of ``dense``
    units, and an all-to-all readout of ``n_outputs`` units. On CIFAR-10's
    ``3 x 32 x 32`` images the feature maps are ``32 x 16 x 16``, ``32 x 8 x
    8`` and ``64 x 4 x 4`` (1024 units), and the network has 89,578
    parameters without the hidden layer. Built with :func:`cnn`.

    Parameters
    ----------
    in_shape : (int, int, int), default (3, 32, 32)
        ``(channels, height, width)`` of the stimulus; height and width at
        least 8 (three poolings halve them).
    n_outputs : int, default 10
    dense : int, optional
        Width of one all-to-all hidden layer between the last feature maps
        and the readout; none by default.
    pool_mode : {"average", "max"}, default "average"
        The pooling of every convolution's output (see
        :class:`~bioplastic.synapses.ConvProjection`).
    hidden : str, default "relu"
        Activation of the feature maps (and of the hidden layer).
    readout : str, default "softmax"
        Activation of the readout: class probabilities, for
        :class:`~bioplastic.CrossEntropy`.
    noise : {"gaussian", "rademacher"} or None, default "gaussian"
        Intrinsic noise of every unit but the input's.
    init : {"xavier_normal", "he_normal", "zeros"}, default "xavier_normal"
    init_scale : float, default 1.0
    bias : bool, default True

    Returns
    -------
    Network

    Raises
    ------
    ValueError
        If ``in_shape`` is not three integers or its height or width is
        below 8, or ``dense`` is below 1.
    TypeError
        If ``dense`` is not an integer.

    Notes
    -----
    Nayebi, Srivastava, Ganguli & Yamins (2020), "Identifying learning
    rules from neural network observables", NeurIPS 33, train this network
    (their "KNet", after Krizhevsky's CIFAR-10 network; code at
    ``github.com/neuroailab/lr-identify``) with the rules they identify.
    Differences: there, each convolution is followed by max pooling over
    overlapping ``3 x 3`` windows at stride 2; here the windows are ``2 x
    2`` and side by side, the pooling :class:`~bioplastic.synapses.ConvProjection`
    supports. Both halve the maps, so the shapes and the parameter count
    are the same, but a pooled unit reads 4 units of the convolution's
    output, not 9, and by default takes their mean (``pool_mode="max"``
    takes their maximum, as the original does). The pooling acts on the
    summed input, before the bias and the activation (``h = pool(W * x) +
    b``): for max pooling and a non-decreasing activation that is the same
    as pooling the rates, for average pooling it is not.

    Examples
    --------
    >>> from bioplastic.models import knet
    >>> net = knet()
    >>> net.sizes
    (3072, 8192, 2048, 1024, 10)
    >>> [p.out_shape for p in net.projections[:3]]
    [(32, 16, 16), (32, 8, 8), (64, 4, 4)]
    """
    shape = tuple(in_shape) if isinstance(in_shape, (tuple, list)) else in_shape
    if not isinstance(shape, tuple) or len(shape) != 3 or not all(isinstance(n, numbers.Integral) and not isinstance(n, bool) for n in shape):
        raise ValueError(f"knet in_shape should be three integers (channels, height, width), e.g. (3, 32, 32), got {in_shape!r}")
    if min(shape[1:]) < 8:
        raise ValueError(f"knet in_shape {in_shape!r}: height and width should be at least 8 (three 2x2 poolings halve them), "
                         f"got {shape[1]}x{shape[2]}")
    layers = [dict(out_channels=channels, kernel_size=size, padding=padding, pool=2, pool_mode=pool_mode)
              for channels, size, padding in _KNET_CONVOLUTIONS]
    widths = () if dense is None else (check_positive_int(dense, "knet dense"),)
    return cnn(shape, layers, n_outputs, dense=widths, hidden=hidden, readout=readout, noise=noise, init=init, init_scale=init_scale,
               bias=bias)
