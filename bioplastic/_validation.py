"""Argument checks shared by the package: every message names the value and what was expected."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

__all__ = [
    "SEED_MAX",
    "check_choice",
    "check_finite_array",
    "check_learning_rates",
    "check_seed",
    "check_seeds",
    "check_positive",
    "check_positive_int",
    "check_nonnegative",
    "check_fraction",
    "check_layers",
    "layer_mask",
]


def check_positive_int(value, name, *, minimum=1):
    """Return ``value`` as an int, requiring an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} should be an integer >= {minimum}, got {value!r} of type {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} should be at least {minimum}, was {value}")
    return int(value)


def _check_real(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} should be a real number, got {value!r} of type {type(value).__name__}")
    if not np.isfinite(value):
        raise ValueError(f"{name} should be finite, got {value!r}")
    return float(value)


def _type_name(value):
    kind = type(value)
    return f"numpy.{kind.__name__}" if kind.__module__ == "numpy" else kind.__name__


def _is_sequence(value):
    """A list, tuple, range or other sequence, or an ndarray; strings and bytes are not sequences of numbers."""
    return isinstance(value, np.ndarray) or (isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray)))


#: The largest seed: seeds are stored as int64 (``History.seeds``, results files).
SEED_MAX = 2**63 - 1


def check_seed(value, name):
    """Return ``value`` as an int seed in ``[0, SEED_MAX]`` (``SEED_MAX = 2**63 - 1``, what int64 storage holds)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} should be an integer in [0, 2**63 - 1], got {value!r} of type {_type_name(value)}")
    value = int(value)
    if not 0 <= value <= SEED_MAX:
        raise ValueError(f"{name} should be an integer in [0, 2**63 - 1] (seeds are stored as int64), got {value}")
    return value


def check_seeds(seeds, name="seeds"):
    """Return ``seeds`` (an integer or a non-empty 1-D sequence of integers) as a list of int seeds.

    Each seed is checked by :func:`check_seed`; the messages name the bad
    entry (``seeds[2]``).
    """
    if isinstance(seeds, np.ndarray) and seeds.ndim == 0:
        seeds = seeds.item()
    if isinstance(seeds, numbers.Integral) and not isinstance(seeds, (bool, np.bool_)):
        return [check_seed(seeds, name)]
    if not _is_sequence(seeds):
        raise TypeError(
            f"{name} should be an integer in [0, 2**63 - 1] or a sequence of them, got {seeds!r} of type {_type_name(seeds)}"
        )
    if isinstance(seeds, np.ndarray) and seeds.ndim != 1:
        raise ValueError(f"{name} should be a 1-D sequence of integers, got an array of shape {seeds.shape}")
    if len(seeds) == 0:
        raise ValueError(f"{name} should hold at least one seed, got an empty sequence")
    return [check_seed(s, f"{name}[{i}]") for i, s in enumerate(seeds)]


def check_learning_rates(value, name="learning_rate"):
    """Return ``value`` (a number or a non-empty 1-D sequence of numbers, each finite and > 0) as a 1-D float array.

    Strings, booleans, ``None`` and nested sequences are refused with a
    :class:`TypeError` (strings are not numbers, even ``"0.01"``).
    """
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        values = [(name, value)]
    elif _is_sequence(value):
        if isinstance(value, np.ndarray) and value.ndim != 1:
            raise ValueError(f"{name} should be a number or a 1-D sequence of numbers, got an array of shape {value.shape}")
        if len(value) == 0:
            raise ValueError(f"{name} should be a number or a 1-D sequence of numbers, got an empty sequence")
        values = [(f"{name}[{i}]", v) for i, v in enumerate(value)]
    else:
        raise TypeError(f"{name} should be a number or a 1-D sequence of numbers, got {value!r} of type {_type_name(value)}")
    rates = []
    for entry, v in values:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
            raise TypeError(f"{entry} should be a real number, got {v!r} of type {_type_name(v)}")
        v = float(v)
        if not np.isfinite(v):
            raise ValueError(f"{entry} should be finite, got {v!r}")
        if v <= 0:
            raise ValueError(f"{name} must be > 0, got {v!r}")
        rates.append(v)
    return np.asarray(rates, dtype=float)


def check_positive(value, name):
    """Return ``value`` as a float, requiring a finite number > 0."""
    value = _check_real(value, name)
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return value


def check_nonnegative(value, name):
    """Return ``value`` as a float, requiring a finite number >= 0."""
    value = _check_real(value, name)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return value


def check_fraction(value, name, *, inclusive=False):
    """Return ``value`` as a float in (0, 1) (or [0, 1] when ``inclusive``)."""
    value = _check_real(value, name)
    ok = 0 <= value <= 1 if inclusive else 0 < value < 1
    if not ok:
        interval = "[0, 1]" if inclusive else "(0, 1)"
        raise ValueError(f"{name} must lie in {interval}, got {value!r}")
    return value


def check_choice(value, name, choices):
    """Return ``value`` if it is one of ``choices`` (strings compared case-insensitively)."""
    if isinstance(value, str):
        lowered = value.lower()
        for choice in choices:
            if isinstance(choice, str) and choice.lower() == lowered:
                return choice
    elif value in choices:
        return value
    raise ValueError(f"unknown {name} {value!r}; expected one of {', '.join(repr(c) for c in choices)}")


def check_finite_array(array, name, *, ndim=None, dtype=None):
    """Return ``array`` as an ndarray, requiring finite entries (and ``ndim`` dimensions if given)."""
    try:
        array = np.asarray(array, dtype=dtype)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} should be a numeric array, got {type(array).__name__}: {error}") from None
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise TypeError(f"{name} should be a real numeric array, got dtype {array.dtype}")
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"{name} should have {ndim} dimensions, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        n_bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise ValueError(f"{name} contains {n_bad} non-finite values (NaN or inf); expected finite data")
    return array


def check_layers(layers):
    """Return ``"all"`` or a tuple of layer indices."""
    if isinstance(layers, str):
        if layers != "all":
            raise ValueError(f"layers should be 'all' or a sequence of layer indices, got {layers!r}")
        return layers
    try:
        layers = tuple(int(k) for k in layers)
    except (TypeError, ValueError):
        raise TypeError(f"layers should be 'all' or a sequence of layer indices, got {layers!r}") from None
    if not layers:
        raise ValueError("layers should name at least one layer, got an empty sequence")
    return layers


def layer_mask(layers, network):
    """Boolean mask over ``network``'s projections for ``"all"`` or a tuple of indices."""
    if layers == "all":
        return [True] * network.n_layers
    mask = [False] * network.n_layers
    for k in layers:
        if not -network.n_layers <= k < network.n_layers:
            raise ValueError(f"layer index {k} out of range for a network with {network.n_layers} layers")
        mask[k] = True
    return mask
