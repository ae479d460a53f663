"""Rate-coded neural populations: activation functions and intrinsic noise.

A population's activity is ``x = f(h + sigma * xi)`` where ``h`` is the summed
synaptic input, ``f`` the activation (transfer) function and ``xi`` the
neurons' intrinsic noise with zero mean and unit variance. In node
perturbation the intrinsic noise *is* the perturbation that plasticity learns
from.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping

import numpy as np

from ._validation import _check_real, check_choice, check_positive_int
from .ops.noise import NOISE_TYPES, draw_noise

__all__ = [
    "ACTIVATIONS",
    "NOISE_TYPES",
    "Activation",
    "LeakyReLU",
    "Population",
    "draw_noise",
    "get_activation",
]


class Activation:
    """An activation function with the three operations learning rules need.

    Subclasses implement ``__call__`` (the rate), ``vjp`` (vector-Jacobian
    product for backpropagation) and ``difference`` (``f(h + dh) - f(h)``
    computed without cancellation, for node perturbation's loss difference).
    All arrays carry neurons on the last axis. Each takes an optional
    ``out`` array of the result's shape to write into (engines reuse such
    arrays between steps); the result is always returned, and where no
    arithmetic is needed (the linear rate) it may be the input itself.
    """

    name = "activation"

    def __call__(self, h, out=None):
        raise NotImplementedError

    def vjp(self, h, x, g, out=None):
        """Return ``g @ df/dh`` given the input ``h``, the rate ``x = f(h)`` and ``g``."""
        raise NotImplementedError

    def difference(self, h, dh, x, out=None):
        """Return ``f(h + dh) - f(h)`` accurately even when ``dh`` is tiny."""
        return _into(self(h + dh) - x, out)

    def describe(self):
        """Return a JSON-serialisable description: the name, or a dict ``{"name": ..., **parameters}``.

        Activations without parameters (and parameterised ones at their
        defaults) are described by their name alone; :func:`get_activation`
        accepts either form.
        """
        return self.name

    def __repr__(self):
        return self.name


class Linear(Activation):
    name = "linear"

    def __call__(self, h, out=None):
        return h

    def vjp(self, h, x, g, out=None):
        return g

    def difference(self, h, dh, x, out=None):
        return dh


class ReLU(Activation):
    name = "relu"

    def __call__(self, h, out=None):
        return np.maximum(h, _zeros(h.shape, h.dtype), out=out)

    def vjp(self, h, x, g, out=None):
        return np.multiply(g, h > 0, out=out)

    def difference(self, h, dh, x, out=None):
        # relu(h + dh) - relu(h) = max(dh, -h) + min(h, 0) = max(dh + min(h, 0), -x):
        # exact where h > 0 (no cancellation), and where h <= 0 only |h| < |dh|
        # contributes. Computed as -min(-(dh + min(h, 0)), x), in place.
        out = np.minimum(h, _zeros(h.shape, h.dtype), out=out)
        out += dh
        np.negative(out, out=out)
        np.minimum(out, x, out=out)
        np.negative(out, out=out)
        return out


class LeakyReLU(Activation):
    r"""Leaky rectified linear unit, ``f(h) = h`` for ``h > 0`` and ``slope * h`` otherwise.

    .. math::

        f(h) = \max(h, a h), \qquad f'(h) = \begin{cases} 1 & h > 0 \\ a & h \le 0 \end{cases}

    with the slope ``a`` in ``[0, 1)`` (``a = 0`` is the ReLU).

    Parameters
    ----------
    slope : float, default 0.2
        Slope ``a`` of the negative part, in ``[0, 1)``. The default is the
        slope of the networks of Dalm, van Gerven & Ahmad, "Effective
        learning by node perturbation in deep neural networks" (2023).

    Raises
    ------
    TypeError
        If ``slope`` is not a real number.
    ValueError
        If ``slope`` is not finite or lies outside ``[0, 1)``.

    Notes
    -----
    :meth:`difference` writes the change as

    .. math::

        f(h + \delta) - f(h) = a \delta + (1 - a) \left[\mathrm{relu}(h + \delta) - \mathrm{relu}(h)\right],

    with the bracket computed as :class:`ReLU` does, ``max(delta + min(h, 0), -relu(h))``,
    which never subtracts two nearly equal rates: the result is ``delta``
    (``a * delta``) to within rounding where ``h`` and ``h + delta`` are
    both positive (both non-positive), however small ``delta`` is.

    Examples
    --------
    >>> import numpy as np
    >>> from bioplastic.neurons import LeakyReLU
    >>> LeakyReLU()(np.array([-1.0, 2.0]))
    array([-0.2,  2. ])
    """

    name = "leaky_relu"
    #: Slope of the negative part when none is given.
    DEFAULT_SLOPE = 0.2

    def __init__(self, *, slope=DEFAULT_SLOPE):
        slope = _check_real(slope, "LeakyReLU slope")
        if not 0 <= slope < 1:
            raise ValueError(f"LeakyReLU slope must lie in [0, 1), got {slope!r}")
        self.slope = slope

    def __call__(self, h, out=None):
        if out is None or np.may_share_memory(out, h):
            return np.maximum(h, self.slope * h, out=out)
        np.multiply(h, self.slope, out=out)
        return np.maximum(out, h, out=out)

    def vjp(self, h, x, g, out=None):
        return _into(np.where(h > 0, g, self.slope * g), out)

    def difference(self, h, dh, x, out=None):
        # slope * dh + (1 - slope) * (relu(h + dh) - relu(h)), the bracket as in ReLU.difference:
        # -min(-(dh + min(h, 0)), relu(h)), with relu(h) = max(x, 0) since x = f(h).
        relu_h = np.maximum(x, _zeros(x.shape, x.dtype))
        out = np.minimum(h, _zeros(h.shape, h.dtype), out=out)
        out += dh
        np.negative(out, out=out)
        np.minimum(out, relu_h, out=out)
        out *= self.slope - 1  # = (1 - slope) * (relu(h + dh) - relu(h))
        out += np.multiply(dh, self.slope, out=relu_h)
        return out

    def describe(self):
        """``"leaky_relu"`` at the default slope, else ``{"name": "leaky_relu", "slope": slope}``."""
        if self.slope == self.DEFAULT_SLOPE:
            return self.name
        return {"name": self.name, "slope": self.slope}

    def __repr__(self):
        return f"LeakyReLU(slope={self.slope!r})"


class Tanh(Activation):
    name = "tanh"

    def __call__(self, h, out=None):
        return np.tanh(h, out=out)

    def vjp(self, h, x, g, out=None):
        return np.multiply(g, 1 - x * x, out=out)

    def difference(self, h, dh, x, out=None):
        # tanh(a) - tanh(b) = sinh(a - b) / (cosh(a) cosh(b))
        return np.divide(np.sinh(dh), np.cosh(h + dh) * np.cosh(h), out=out)


class Sigmoid(Activation):
    name = "sigmoid"

    def __call__(self, h, out=None):
        return _into(0.5 * (1 + np.tanh(0.5 * h)), out)

    def vjp(self, h, x, g, out=None):
        return _into(g * x * (1 - x), out)

    def difference(self, h, dh, x, out=None):
        half = 0.5 * h
        return _into(0.5 * np.sinh(0.5 * dh) / (np.cosh(half + 0.5 * dh) * np.cosh(half)), out)


class Softmax(Activation):
    """Softmax over the population (a normalised readout)."""

    name = "softmax"

    def __call__(self, h, out=None):
        z = np.subtract(h, h.max(axis=-1, keepdims=True), out=out)
        np.exp(z, out=z)
        z /= z.sum(axis=-1, keepdims=True)
        return z

    def vjp(self, h, x, g, out=None):
        return np.multiply(x, g - np.sum(g * x, axis=-1, keepdims=True), out=out)

    def difference(self, h, dh, x, out=None):
        # s'_i - s_i = s_i (expm1(dh_i) - sum_j s_j expm1(dh_j)) / (1 + sum_j s_j expm1(dh_j))
        if np.max(np.abs(dh), initial=0.0) > 1:  # large perturbations: no cancellation concern
            return _into(self(h + dh) - x, out)
        e = np.expm1(dh)
        mean_e = np.sum(x * e, axis=-1, keepdims=True)
        return _into(x * (e - mean_e) / (1 + mean_e), out)


@functools.lru_cache(maxsize=16)
def _zeros(shape, dtype):
    """A read-only array of zeros (numpy's max/min against an array run several times faster than against a scalar)."""
    zeros = np.zeros(shape, dtype=dtype)
    zeros.flags.writeable = False
    return zeros


def _into(result, out):
    """Return ``result``, copied into ``out`` when one is given."""
    if out is None:
        return result
    np.copyto(out, result)
    return out


ACTIVATIONS = {cls.name: cls for cls in (Linear, ReLU, LeakyReLU, Tanh, Sigmoid, Softmax)}


def get_activation(activation):
    """Return an :class:`Activation` from a name, a description or an instance.

    Parameters
    ----------
    activation : str, dict or Activation
        A key of :data:`ACTIVATIONS` (case-insensitive), a description as
        :meth:`Activation.describe` writes it (``{"name": "leaky_relu",
        "slope": 0.1}``: the name and the activation's keyword arguments), or
        an :class:`Activation`, returned as it is.

    Returns
    -------
    Activation

    Raises
    ------
    TypeError
        If ``activation`` is of another type, or a description has no string
        ``"name"`` or names a parameter the activation does not take.
    ValueError
        If the name is unknown (or a parameter value is invalid).
    """
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, Mapping):
        params = dict(activation)
        name = params.pop("name", None)
        if not isinstance(name, str):
            raise TypeError(f"an activation description should have a string 'name', got {activation!r}")
        cls = ACTIVATIONS[check_choice(name, "activation", tuple(ACTIVATIONS))]
        accepted = [p for p in inspect.signature(cls).parameters if p != "self"]
        unknown = sorted(set(params) - set(accepted))
        if unknown:
            expected = ", ".join(repr(p) for p in accepted) if accepted else "none"
            raise TypeError(f"activation {cls.name!r} got unknown parameters {', '.join(repr(p) for p in unknown)}; expected {expected}")
        return cls(**params)
    if not isinstance(activation, str):
        raise TypeError(f"activation should be a name, a description dict or an Activation, got {activation!r}")
    name = check_choice(activation, "activation", tuple(ACTIVATIONS))
    return ACTIVATIONS[name]()


class Population:
    """A population of rate-coded neurons.

    Parameters
    ----------
    n_neurons : int
        Number of neurons (>= 1).
    activation : str, dict or Activation, default "linear"
        Transfer function: "linear", "relu", "leaky_relu" (slope 0.2),
        "tanh", "sigmoid" or "softmax" (a normalised readout); an instance
        such as ``LeakyReLU(slope=0.1)`` for other parameters, or its
        description (``{"name": "leaky_relu", "slope": 0.1}``, see
        :func:`get_activation`).
    noise : {"gaussian", "rademacher"} or None, default "gaussian"
        Distribution of the intrinsic noise ``xi`` (zero mean, unit
        variance). Its amplitude ``sigma`` belongs to the learning rule
        (e.g. :class:`~bioplastic.plasticity.NodePerturbation`), as in the
        papers where every layer shares one ``sigma``. ``None`` makes the
        population noise-free, so it is never perturbed.
    name : str, optional
        Label used in records and plots.
    """

    def __init__(self, n_neurons, *, activation="linear", noise="gaussian", name=None):
        self.n_neurons = check_positive_int(n_neurons, "Population n_neurons")
        self.activation = activation
        self.activation_ = get_activation(activation)
        if noise is not None:
            noise = check_choice(noise, "noise", NOISE_TYPES)
        self.noise = noise
        if name is not None and not isinstance(name, str):
            raise TypeError(f"Population name should be a string, got {name!r}")
        self.name = name

    def describe(self):
        """Return a JSON-serialisable description."""
        return {"n_neurons": self.n_neurons, "activation": self.activation_.describe(), "noise": self.noise, "name": self.name}

    def __repr__(self):
        return f"Population({self.n_neurons}, activation={self.activation_.describe()!r}, noise={self.noise!r})"
