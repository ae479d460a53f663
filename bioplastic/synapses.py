"""Synaptic projections between populations: weights, biases and initialisation."""

from __future__ import annotations

import numpy as np

from ._validation import check_choice, check_positive, check_positive_int

__all__ = ["INITIALISATIONS", "Projection", "he_std", "xavier_std"]

INITIALISATIONS = ("xavier_normal", "he_normal", "zeros")


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
