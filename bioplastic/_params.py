"""Parameters introspected from keyword-only constructors (as scikit-learn's ``get_params``).

A class deriving from :class:`Parameterised` stores each constructor
parameter as an attribute of the same name. :meth:`~Parameterised.get_params`
reads them back from the signature, so ``repr``, ``describe()``,
configuration files and results metadata never need to be written by hand and
cannot drop a setting.
"""

from __future__ import annotations

import inspect

import numpy as np

__all__ = ["Parameterised", "build_registered", "describe_value"]


def describe_value(value):
    """JSON-serialisable form of a parameter value (nested components by their ``describe()``)."""
    if hasattr(value, "describe") and callable(value.describe):
        return value.describe()
    if isinstance(value, tuple):
        return [describe_value(v) for v in value]
    if isinstance(value, list):
        return [describe_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): describe_value(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


class Parameterised:
    """Base class of components whose keyword-only constructor parameters describe them."""

    @classmethod
    def _param_names(cls):
        signature = inspect.signature(cls.__init__)
        names = []
        for name, parameter in signature.parameters.items():
            if name == "self" or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                continue
            names.append(name)
        return names

    @classmethod
    def param_names(cls):
        """Names of the constructor parameters, in signature order."""
        return tuple(cls._param_names())

    def get_params(self):
        """The constructor parameters and their current values, ``{name: value}``."""
        params = {}
        for name in self._param_names():
            if not hasattr(self, name):
                raise AttributeError(
                    f"{type(self).__name__} should store its constructor parameter {name!r} as an attribute of the same name"
                )
            params[name] = getattr(self, name)
        return params

    def describe(self):
        """JSON-serialisable description: the parameters (nested components described too)."""
        return {name: describe_value(value) for name, value in self.get_params().items()}

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"


def build_registered(registry, name, params, what):
    """Build ``registry[name](**params)``, checking the name and the parameter names first.

    Parameters
    ----------
    registry : dict of str to type
        Registered classes (of :class:`Parameterised`) by name.
    name : str
        Looked up case-insensitively.
    params : dict
        Keyword-only constructor parameters.
    what : str
        What is built, for messages (``"rule"``, ``"optimiser"``).
    """
    from ._validation import check_choice

    key = check_choice(name, what, tuple(registry))
    cls = registry[key]
    unknown = sorted(set(params) - set(cls.param_names()))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} for {what} {key!r}; expected some of {sorted(cls.param_names())}")
    return cls(**params)
