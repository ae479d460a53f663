"""Scratch arrays reused between steps, and the broadcast-member test."""

from __future__ import annotations

import numpy as np

__all__ = ["Workspace", "scratch", "shared_member"]


class Workspace:
    """Scratch arrays of one member block, reused from step to step.

    Large temporaries allocated anew every step cost more than the
    arithmetic on them (the memory allocator hands big blocks back to the
    operating system and page-faults them in again), so the engine gives
    each member block a workspace and the step functions write into its
    arrays. Arrays are created on first request and kept by name.
    """

    def __init__(self):
        self._arrays = {}

    def get(self, name, shape, dtype):
        """Return the array ``name`` of ``shape`` and ``dtype`` (contents undefined)."""
        array = self._arrays.get(name)
        if array is None or array.shape != shape or array.dtype != dtype:
            array = self._arrays[name] = np.empty(shape, dtype=dtype)
        return array


def scratch(workspace, name, shape, dtype):
    """An array from ``workspace`` (a :class:`Workspace`), or a new one when it is ``None``."""
    if workspace is None:
        return np.empty(shape, dtype=dtype)
    return workspace.get(name, tuple(shape), np.dtype(dtype))


def shared_member(array):
    """The one array all members share when ``array`` (members first) is a broadcast view of it, else ``None``.

    Members of a block that use one noise stream get its noise as such a
    view; work that depends on the noise alone is then done once.
    """
    return array[0] if len(array) > 1 and array.strides[0] == 0 else None

