"""Old names kept as aliases that warn."""

from __future__ import annotations

import functools
import warnings


def deprecated_alias(function, old_name):
    """A function ``old_name`` that warns with :class:`DeprecationWarning` (naming ``function``) and calls it."""
    new_name = function.__name__

    @functools.wraps(function)
    def alias(*args, **kwargs):
        warnings.warn(
            f"bioplastic.theory.{old_name} is deprecated; use bioplastic.theory.{new_name} (same arguments and result)",
            DeprecationWarning,
            stacklevel=2,
        )
        return function(*args, **kwargs)

    alias.__name__ = alias.__qualname__ = old_name
    alias.__doc__ = f"Deprecated alias of :func:`{new_name}`: same arguments and result, and a DeprecationWarning."
    return alias
