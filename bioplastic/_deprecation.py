"""Old names kept as aliases that warn."""

from __future__ import annotations

import functools
import warnings

__all__ = ["deprecated_alias"]


def deprecated_alias(function, old_name, package):
    """A function ``old_name`` that warns with :class:`DeprecationWarning` (naming ``function``) and calls it.

    Parameters
    ----------
    function : callable
        The function under its new name.
    old_name : str
    package : str
        Where both names live, for the message (e.g. ``"bioplastic.theory"``).
    """
    new_name = function.__name__

    @functools.wraps(function)
    def alias(*args, **kwargs):
        warnings.warn(
            f"{package}.{old_name} is deprecated; use {package}.{new_name} (same arguments and result)",
            DeprecationWarning,
            stacklevel=2,
        )
        return function(*args, **kwargs)

    alias.__name__ = alias.__qualname__ = old_name
    alias.__doc__ = f"Deprecated alias of :func:`{new_name}`: same arguments and result, and a DeprecationWarning."
    return alias
