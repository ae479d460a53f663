"""Reproductions of the node-perturbation studies, one command per figure.

Every figure is computed and drawn in two separate steps:

* ``compute_<name>(*, quick=False, progress=True, out_dir=None)`` runs the
  simulations and the theory and returns a :class:`FigureResults` (arrays and
  JSON metadata, with the summary numbers under ``metadata["summary"]``)
  without importing matplotlib. With ``out_dir`` it also writes the
  :class:`~bioplastic.History` of every training run there (and its
  checkpoints, so that a rerun resumes).
* ``draw_<name>(results)`` makes the :class:`matplotlib.figure.Figure` from
  those results alone, freshly computed or loaded from disk.

The registered figure (``bioplastic.figures.FIGURES[name]``, also the module
function ``<name>``) computes, saves the results as the pair
``<name>_results.npz/.json`` (:func:`bioplastic.io.save_arrays_and_metadata`),
draws and saves ``<name>.png``, and returns the summary numbers.
``bioplastic figure NAME [--quick]`` runs one from the command line;
:func:`replot` draws a figure again from its saved results.

The figures of Hiratani, Mehta, Lillicrap & Latham (NeurIPS 2022) are in
:mod:`bioplastic.figures.hiratani2022`, one module per figure group; the
comparison of CIFAR-10 CNNs' hidden layers with monkey- and human-IT data on
the 92-image set is in :mod:`bioplastic.figures.recordings92`.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import NamedTuple

__all__ = ["FIGURES", "FigureResults", "available_figures", "distributed_figures", "distributes", "figures_by_study", "register", "register_figure",
           "replot", "run_figure"]

#: name -> callable(quick, out_dir, progress) -> dict
FIGURES = {}

#: modules that register figures when imported
_MODULES = ("bioplastic.figures.hiratani2022", "bioplastic.figures.kunin2020", "bioplastic.figures.dalm2024",
            "bioplastic.figures.recordings92", "bioplastic.figures.nayebi2020")


class FigureResults(NamedTuple):
    """What a figure's compute step returns and its draw step needs.

    Attributes
    ----------
    arrays : dict of str to ndarray
        Numeric (or string) arrays, saved in ``<name>_results.npz``.
    metadata : dict
        JSON-serialisable; ``"figure"`` (the name), ``"summary"`` (the summary
        numbers) and the settings of the run, saved in ``<name>_results.json``.
    """

    arrays: dict
    metadata: dict

    @property
    def name(self):
        """The figure's name."""
        return self.metadata["figure"]

    @property
    def summary(self):
        """The summary numbers."""
        return self.metadata["summary"]


def register(name):
    """Decorator registering a figure function ``func(*, quick, out_dir, progress) -> dict`` under ``name``.

    Such a figure runs with :func:`run_figure`; :func:`register_figure`
    registers one made of a compute and a draw step, which can also be
    redrawn by :func:`replot`.
    """

    def decorator(func):
        FIGURES[name] = func
        return func

    return decorator


_COMPUTE_SECTIONS = """

    Parameters
    ----------
    quick : bool, default False
        The CI-sized run described above instead of the paper's.
    progress : bool, default True
        Show progress bars.
    out_dir : path, optional
        Folder for the Histories of the training runs (and their checkpoints
        and caches); None keeps them in memory only.

    Returns
    -------
    FigureResults
        Arrays, and metadata with the figure's name, its summary numbers and
        the settings of the run. Nothing is drawn and matplotlib is not
        imported.
    """

#: the parameters of a figure whose runs distribute (its compute step takes ``workers`` and ``scheduler``)
_EXECUTION_PARAMETERS = """    workers : int, optional
        Run the figure's independent searches side by side on a local Dask
        cluster of this many single-threaded worker processes
        (:func:`bioplastic.sweeps.map_calls`; ``pip install bioplastic[sweeps]``).
    scheduler : str, optional
        Address of a running Dask scheduler whose workers run them instead.
"""

_DRAW_SECTIONS = """

    Parameters
    ----------
    results : FigureResults
        What the compute step returned, or the saved ``<name>_results`` pair
        loaded again (see :func:`replot`).

    Returns
    -------
    matplotlib.figure.Figure
    """

_RUN_SECTIONS = """

    Parameters
    ----------
    quick : bool, default False
        The CI-sized run described above instead of the paper's.
    out_dir : path, default "figures"
        Where ``<name>_results.npz/.json``, ``<name>.png`` and the Histories
        of the training runs are written.
    progress : bool, default True
        Show progress bars.

    Returns
    -------
    dict
        The summary numbers.
    """


def _with_sections(doc, sections, *, distributed=False):
    if doc is None or "Parameters\n    ----------" in doc:
        return doc
    if distributed:  # the execution parameters after the others, before Returns
        sections = sections.replace("\n\n    Returns\n", "\n" + _EXECUTION_PARAMETERS + "\n    Returns\n", 1)
    return doc.rstrip() + sections


def distributes(function):
    """Whether the figure function or compute step ``function`` takes ``workers`` and ``scheduler`` (its runs distribute)."""
    import inspect

    parameters = inspect.signature(function).parameters
    return "workers" in parameters and "scheduler" in parameters


def _execution(name, function, workers, scheduler):
    """The ``workers``/``scheduler`` keywords to pass to ``function`` (none when both are None); refuses a figure that does not distribute."""
    if workers is None and scheduler is None:
        return {}
    if not distributes(function):
        raise ValueError(f"figure {name!r} does not distribute its runs (got workers={workers!r}, scheduler={scheduler!r}); "
                         f"the figures that do: {', '.join(distributed_figures()) or 'none'}")
    return {"workers": workers, "scheduler": scheduler}


def distributed_figures():
    """Names of the figures whose runs distribute over Dask workers (``bioplastic figure NAME --workers N``)."""
    return [name for name in available_figures() if distributes(getattr(FIGURES[name], "compute", FIGURES[name]))]


def register_figure(name, compute, draw, *, paths_in_summary=False):
    """Register the figure ``name`` made of ``compute`` and ``draw``; return its runner.

    Parameters
    ----------
    name : str
        E.g. ``"fig1a"``.
    compute : callable
        ``compute(*, quick, progress, out_dir) -> FigureResults``.
    draw : callable
        ``draw(results) -> matplotlib.figure.Figure``.
    paths_in_summary : bool, default False
        Whether the returned summary also names the PNG (``"png"``) and the
        results file (``"results"``).

    Returns
    -------
    callable
        ``run(*, quick=False, out_dir="figures", progress=True) -> dict``:
        compute, save ``out_dir/<name>_results.npz/.json``, draw, save
        ``out_dir/<name>.png``; returns the summary. It carries the compute
        step's description and the two steps as ``run.compute`` and
        ``run.draw``. The Parameters and Returns sections of the three
        docstrings are added here.
    """

    def run(*, quick=False, out_dir="figures", progress=True, workers=None, scheduler=None):
        from ..io import save_arrays_and_metadata
        from ..plotting import save_figure

        execution = _execution(name, compute, workers, scheduler)
        out_dir = Path(out_dir)
        results = compute(quick=quick, progress=progress, out_dir=out_dir, **execution)
        if results.name != name:
            raise ValueError(f"compute step of {name!r} returned the results of {results.name!r}")
        npz, _ = save_arrays_and_metadata(out_dir / f"{name}_results", results.arrays, results.metadata)
        png = save_figure(draw(results), out_dir / f"{name}.png")
        summary = dict(results.summary)
        if paths_in_summary:
            summary["png"] = str(png)
            summary["results"] = str(npz)
        return summary

    run.__name__ = run.__qualname__ = name
    run.__module__ = compute.__module__
    run.__doc__ = _with_sections(compute.__doc__, _RUN_SECTIONS, distributed=distributes(compute))
    compute.__doc__ = _with_sections(compute.__doc__, _COMPUTE_SECTIONS, distributed=distributes(compute))
    draw.__doc__ = _with_sections(draw.__doc__, _DRAW_SECTIONS)
    run.compute = compute
    run.draw = draw
    FIGURES[name] = run
    return run


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


def figures_by_study():
    """The figures grouped by study: a list of ``(study, citation, names)``.

    A study is a package of :data:`_MODULES`; its ``STUDY`` names it (e.g.
    ``"Dalm et al. 2024"``) and its ``CITATION`` gives the paper. Figures
    registered elsewhere (a user's own) come last, under ``"other"``.
    """
    _load_all()
    groups, seen = [], set()
    for module in _MODULES:
        try:
            package = importlib.import_module(module)
        except ModuleNotFoundError:
            continue
        names = sorted(n for n, f in FIGURES.items() if getattr(f, "__module__", "").startswith(module + "."))
        seen.update(names)
        groups.append((getattr(package, "STUDY", module), getattr(package, "CITATION", ""), names))
    rest = sorted(set(FIGURES) - seen)
    if rest:
        groups.append(("other", "", rest))
    return groups


def _lookup(name):
    names = available_figures()
    if name not in FIGURES:
        raise ValueError(f"unknown figure {name!r}; expected one of {', '.join(names)}")
    return FIGURES[name]


def run_figure(name, *, quick=False, out_dir="figures", progress=True, workers=None, scheduler=None):
    """Run figure ``name``; returns its summary dict.

    ``workers`` / ``scheduler`` distribute the runs of the figures that allow
    it (:func:`distributed_figures`); the others refuse them.
    """
    figure = _lookup(name)
    execution = _execution(name, getattr(figure, "compute", figure), workers, scheduler)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return figure(quick=quick, out_dir=out_dir, progress=progress, **execution)


def replot(name, results_path, *, png=None):
    """Draw figure ``name`` again from its saved results, without computing anything.

    Parameters
    ----------
    name : str
        The figure, e.g. ``"fig1a"``.
    results_path : path
        The results pair its run wrote, ``<out_dir>/<name>_results`` (with or
        without ``.npz``/``.json``).
    png : path, optional
        Also save the figure there.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from ..io import load_arrays_and_metadata

    figure = _lookup(name)
    draw = getattr(figure, "draw", None)
    if draw is None:
        raise ValueError(f"figure {name!r} has no separate draw step (it was registered with register(), not register_figure())")
    arrays, metadata = load_arrays_and_metadata(results_path)
    if metadata.get("figure") != name:
        raise ValueError(f"{results_path} holds the results of figure {metadata.get('figure')!r}, not of {name!r}")
    fig = draw(FigureResults(arrays, metadata))
    if png is not None:
        from ..plotting import save_figure

        save_figure(fig, png)
    return fig
