"""Reproductions of the node-perturbation studies, one command per figure.

Each figure function takes ``quick`` (CI-sized run), ``out_dir`` (where the
results files and the PNG go) and ``progress``, writes its data with
:meth:`bioplastic.History.save` (or ``.npz``/``.json`` pairs) plus a PNG, and
returns a dict of summary numbers. ``bioplastic figure NAME [--quick]`` runs
one from the command line.
"""

from __future__ import annotations

import importlib
from pathlib import Path

__all__ = ["FIGURES", "available_figures", "register", "run_figure"]

#: name -> callable(quick, out_dir, progress) -> dict
FIGURES = {}

#: modules that register figures when imported
_MODULES = ("bioplastic.figures.linear", "bioplastic.figures.nonlinear")


def register(name):
    """Decorator registering a figure function under ``name`` (e.g. ``"fig1a"``)."""

    def decorator(func):
        FIGURES[name] = func
        return func

    return decorator


def _load_all():
    for module in _MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as error:
            if error.name != module:
                raise


def available_figures():
    """Sorted names of all figures."""
    _load_all()
    return sorted(FIGURES)


def run_figure(name, *, quick=False, out_dir="figures", progress=True):
    """Run figure ``name``; returns its summary dict."""
    names = available_figures()
    if name not in FIGURES:
        raise ValueError(f"unknown figure {name!r}; expected one of {', '.join(names)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return FIGURES[name](quick=quick, out_dir=out_dir, progress=progress)
