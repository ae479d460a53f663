"""Brian2 itself: its lazy import, quiet parsing, code-generation preferences and the names of our objects."""

from __future__ import annotations

import contextlib
import warnings

__all__ = ["NAME", "TARGETS", "codegen_prefs", "import_brian2", "quiet"]

#: Brian2 code-generation targets the engine runs.
TARGETS = ("numpy", "cython")

#: Prefix of every Brian2 object's name (names are fixed, so compiled code objects are reused).
NAME = "bioplastic"


@contextlib.contextmanager
def quiet():
    """Silence the deprecation warnings Brian2's parser triggers in newer pyparsing versions (only those)."""
    with warnings.catch_warnings():
        try:
            from pyparsing.warnings import PyparsingDeprecationWarning
        except ImportError:  # pragma: no cover - older pyparsing issues none
            pass
        else:
            warnings.filterwarnings("ignore", category=PyparsingDeprecationWarning)
        yield


def import_brian2():
    """The ``brian2`` module, imported on first use (importing :mod:`bioplastic` does not import it)."""
    try:
        with quiet():
            import brian2
    except ImportError as error:  # pragma: no cover - brian2 is a core dependency
        raise ImportError("the Brian2 engine needs Brian2: pip install brian2 (and cython for target='cython')") from error
    return brian2


@contextlib.contextmanager
def codegen_prefs(b2, target, cache_dir):
    """Set Brian2's code-generation target (and cython cache) for one run, then restore them."""
    prefs = b2.prefs
    old_target = prefs["codegen.target"]
    old_cache = prefs["codegen.runtime.cython.cache_dir"]
    prefs["codegen.target"] = target
    if cache_dir is not None:
        prefs["codegen.runtime.cython.cache_dir"] = str(cache_dir)
    try:
        yield
    finally:
        prefs["codegen.target"] = old_target
        prefs["codegen.runtime.cython.cache_dir"] = old_cache
