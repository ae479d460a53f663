"""Synaptic projections between populations: weights, biases and initialisation."""

from __future__ import annotations

import numpy as np

from ._validation import check_choice, check_positive, check_positive_int

__all__ = ["INITIALISATIONS", "POOL_MODES", "ConvProjection", "Projection", "he_std", "xavier_std"]

INITIALISATIONS = ("xavier_normal", "he_normal", "zeros")

#: How a :class:`ConvProjection` pools a window of its convolution's output: its mean or its largest value.
POOL_MODES = ("average", "max")


def xavier_std(n_pre, n_post):
    """Xavier-Glorot normal standard deviation ``sqrt(2 / (n_pre + n_post))``."""
    return float(np.sqrt(2.0 / (n_pre + n_post)))


def he_std(n_pre):
    """He normal standard deviation ``sqrt(2 / n_pre)``.

    The variance ``2 / n_pre`` keeps the mean squared activity of a deep
    rectifier network constant from layer to layer (He, Zhang, Ren & Sun
    2015, "Delving deep into rectifiers", Eq. 10).

    Parameters
    ----------
    n_pre : int
        Number of presynaptic neurons (the fan-in).

    Returns
    -------
    float
    """
    return float(np.sqrt(2.0 / n_pre))


class Projection:
    """All-to-all synapses from a presynaptic to a postsynaptic population.

    Weights are stored with shape ``(n_post, n_pre)`` (and, in an engine, with
    a leading ensemble axis: ``(n_members, n_post, n_pre)``).

    Parameters
    ----------
    n_pre, n_post : int
        Sizes of the presynaptic and postsynaptic populations.
    init : {"xavier_normal", "he_normal", "zeros"}, default "xavier_normal"
        Weight initialisation: Xavier-Glorot normal, ``W ~ N(0, 2 / (n_pre + n_post))``
        as in the node-perturbation paper; He normal, ``W ~ N(0, 2 / n_pre)``
        (:func:`he_std`); or all zeros. The He weights are drawn from the
        plain normal distribution of He et al. (2015, Eq. 10); Keras'
        ``HeNormal`` instead draws from a normal truncated at two standard
        deviations whose untruncated standard deviation is
        ``sqrt(2 / n_pre) / 0.87962566``, so that its weights have the same
        variance ``2 / n_pre`` but no tails beyond ``2 * sqrt(2 / n_pre) / 0.87962566``.
    init_scale : float, default 1.0
        Factor multiplying the initial weights (the paper's Fig. 1C varies it).
    bias : bool, default True
        Whether the postsynaptic neurons have a (learned) bias, initialised at zero.
    plastic : bool, default True
        Whether learning rules may change these synapses.
    """

    #: how the projection connects: ``"dense"`` (all to all) or ``"conv"`` (:class:`ConvProjection`)
    kind = "dense"

    def __init__(self, n_pre, n_post, *, init="xavier_normal", init_scale=1.0, bias=True, plastic=True):
        self.n_pre = check_positive_int(n_pre, "Projection n_pre")
        self.n_post = check_positive_int(n_post, "Projection n_post")
        self.init = check_choice(init, "init", INITIALISATIONS)
        self.init_scale = check_positive(init_scale, "init_scale")
        if not isinstance(bias, bool):
            raise TypeError(f"bias should be True or False, got {bias!r}")
        self.bias = bias
        if not isinstance(plastic, bool):
            raise TypeError(f"plastic should be True or False, got {plastic!r}")
        self.plastic = plastic

    @property
    def shape(self):
        """``(n_post, n_pre)``."""
        return (self.n_post, self.n_pre)

    @property
    def n_biases(self):
        """Number of biases (one per postsynaptic neuron; one per output channel for :class:`ConvProjection`)."""
        return self.n_post

    def initial_weights(self, rng, dtype=np.float64):
        """Draw initial weights, ``ndarray of shape (n_post, n_pre)``, from ``rng``."""
        if self.init == "zeros":
            return np.zeros(self.shape, dtype=dtype)
        if self.init == "he_normal":
            std = self.init_scale * he_std(self.n_pre)
        else:
            std = self.init_scale * xavier_std(self.n_pre, self.n_post)
        return (std * rng.standard_normal(self.shape)).astype(dtype, copy=False)

    def describe(self):
        """Return a JSON-serialisable description."""
        return {
            "n_pre": self.n_pre,
            "n_post": self.n_post,
            "init": self.init,
            "init_scale": self.init_scale,
            "bias": self.bias,
            "plastic": self.plastic,
        }

    def __repr__(self):
        return f"Projection({self.n_pre} -> {self.n_post}, init={self.init!r}, init_scale={self.init_scale}, bias={self.bias})"


def _int_pair(value, name, minimum):
    """``value`` (an int or a pair of ints, each at least ``minimum``) as a pair."""
    pair = (value, value) if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else tuple(value) if isinstance(
        value, (tuple, list)) else None
    if pair is None or len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in pair):
        raise TypeError(f"ConvProjection {name} should be an integer or a pair of integers, got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"ConvProjection {name} should be at least {minimum}, got {value!r}")
    return int(pair[0]), int(pair[1])


class ConvProjection(Projection):
    r"""Convolutional synapses between two populations of feature maps (retinotopic, shared kernels).

    The presynaptic population is ``in_shape = (channels, height, width)``
    units (flattened channel-major, as everywhere in the package); each
    postsynaptic unit ``(o, p, q)`` sums one ``kh x kw`` patch of every
    input channel through the kernel of its channel ``o``,

    .. math:: h_{o,p,q} = b_o + \sum_{c,i,j} W_{o,c,i,j}\, x_{c,\, p s_h + i - p_h,\, q s_w + j - p_w},

    optionally pooled over ``pool x pool`` windows side by side (stride
    ``pool``) before the bias: averaged, ``h = avgpool(W * x) + b``, still
    linear in ``x`` and ``W``, or their maximum taken, ``h = maxpool(W * x)
    + b`` (``pool_mode="max"``). Kernels are stored with shape
    ``(out_channels, in_channels, kh, kw)`` (and a leading ensemble axis in
    an engine); the bias is one per output channel.

    Parameters
    ----------
    in_shape : (int, int, int)
        ``(channels, height, width)`` of the presynaptic feature maps.
    out_channels : int
    kernel_size : int or (int, int)
    stride : int or (int, int), default 1
    padding : int or (int, int), default 0
        Zeros around every input map.
    pool : int, optional
        Pooling window (and stride) of the convolution's output.
    pool_mode : {"average", "max"}, default "average"
        How a window is pooled: its mean, or its largest value. Max pooling
        of the summed input is max pooling of the rates that the
        convolution's units would have, ``f(maxpool(W * x) + b) =
        maxpool(f(W * x + b))``, for every non-decreasing elementwise
        activation (all of :data:`~bioplastic.neurons.ACTIVATIONS` but the
        softmax, which is not elementwise: there it is the softmax of the
        max-pooled summed input). The engines carry deltas back through the
        unit that won each window in the pass (ties: the first in row-major
        order); see :class:`~bioplastic.ops.MaxPoolSwitches`. Ignored
        without ``pool``.
    init : {"xavier_normal", "he_normal", "zeros"}, default "xavier_normal"
        Xavier-Glorot over ``fan_in = in_channels kh kw`` and ``fan_out =
        out_channels kh kw``, or He over ``fan_in``.
    init_scale : float, default 1.0
    bias : bool, default True
    plastic : bool, default True

    Examples
    --------
    >>> from bioplastic.synapses import ConvProjection
    >>> conv = ConvProjection((3, 32, 32), 16, 5, padding=2, pool=2)
    >>> conv.shape, conv.out_shape, conv.n_post
    ((16, 3, 5, 5), (16, 16, 16), 4096)
    """

    kind = "conv"

    def __init__(self, in_shape, out_channels, kernel_size, *, stride=1, padding=0, pool=None, pool_mode="average", init="xavier_normal",
                 init_scale=1.0, bias=True, plastic=True):
        in_shape = tuple(in_shape) if isinstance(in_shape, (tuple, list)) else in_shape
        if not isinstance(in_shape, tuple) or len(in_shape) != 3:
            raise TypeError(f"ConvProjection in_shape should be (channels, height, width), got {in_shape!r}")
        self.in_shape = tuple(check_positive_int(v, f"ConvProjection in_shape[{i}]") for i, v in enumerate(in_shape))
        self.out_channels = check_positive_int(out_channels, "ConvProjection out_channels")
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        kh, kw = _int_pair(kernel_size, "kernel_size", 1)
        sh, sw = _int_pair(stride, "stride", 1)
        ph, pw = _int_pair(padding, "padding", 0)
        _, height, width = self.in_shape
        if kh > height + 2 * ph or kw > width + 2 * pw:
            raise ValueError(f"ConvProjection kernel_size {kernel_size!r} is larger than the padded input "
                             f"({height + 2 * ph}x{width + 2 * pw}: {height}x{width} with padding {padding!r})")
        conv_h, conv_w = (height + 2 * ph - kh) // sh + 1, (width + 2 * pw - kw) // sw + 1
        if pool is not None:
            pool = check_positive_int(pool, "ConvProjection pool")
            if pool > min(conv_h, conv_w):
                raise ValueError(f"ConvProjection pool {pool} is larger than the convolution's output ({conv_h}x{conv_w})")
        self.pool = pool
        self.pool_mode = check_choice(pool_mode, "ConvProjection pool_mode", POOL_MODES)
        self.conv_shape = (self.out_channels, conv_h, conv_w)
        self.out_shape = self.conv_shape if pool is None else (self.out_channels, conv_h // pool, conv_w // pool)
        super().__init__(int(np.prod(self.in_shape)), int(np.prod(self.out_shape)), init=init, init_scale=init_scale, bias=bias,
                         plastic=plastic)

    @property
    def shape(self):
        """Kernel shape ``(out_channels, in_channels, kh, kw)``."""
        kh, kw = _int_pair(self.kernel_size, "kernel_size", 1)
        return (self.out_channels, self.in_shape[0], kh, kw)

    @property
    def n_biases(self):
        """One bias per output channel."""
        return self.out_channels

    def initial_weights(self, rng, dtype=np.float64):
        """Draw initial kernels, ``ndarray of shape (out_channels, in_channels, kh, kw)``, from ``rng``."""
        if self.init == "zeros":
            return np.zeros(self.shape, dtype=dtype)
        out_channels, in_channels, kh, kw = self.shape
        fan_in, fan_out = in_channels * kh * kw, out_channels * kh * kw
        std = self.init_scale * (he_std(fan_in) if self.init == "he_normal" else xavier_std(fan_in, fan_out))
        return (std * rng.standard_normal(self.shape)).astype(dtype, copy=False)

    def describe(self):
        """Return a JSON-serialisable description (``kind: "conv"``)."""
        return {
            "kind": "conv",
            "in_shape": list(self.in_shape),
            "out_channels": self.out_channels,
            "kernel_size": self.kernel_size if isinstance(self.kernel_size, int) else list(self.kernel_size),
            "stride": self.stride if isinstance(self.stride, int) else list(self.stride),
            "padding": self.padding if isinstance(self.padding, int) else list(self.padding),
            "pool": self.pool,
            "pool_mode": self.pool_mode,
            "init": self.init,
            "init_scale": self.init_scale,
            "bias": self.bias,
            "plastic": self.plastic,
        }

    def __repr__(self):
        pool = "" if self.pool is None else f", pool={self.pool}" + ("" if self.pool_mode == "average" else f", pool_mode={self.pool_mode!r}")
        return (f"ConvProjection({self.in_shape} -> {self.out_shape}, kernel_size={self.kernel_size!r}, stride={self.stride!r}, "
                f"padding={self.padding!r}{pool}, init={self.init!r})")
