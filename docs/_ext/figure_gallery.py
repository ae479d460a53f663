"""The figure gallery and the study pages: every registered figure's quick-mode PNG, made by the build.

At the start of a build every figure of :func:`bioplastic.figures.available_figures`
is run in quick mode (``run_figure(name, quick=True)``) into a cache folder,
one worker process per figure module (the figures of a module share their
caches), on as many processes as the machine's CPU budget allows, each with
one BLAS thread. A figure is computed again only when the code it computes
with changed: its study's fingerprint covers the package except the other
studies' folders of :mod:`bioplastic.figures` and leaves out drawing code
(:mod:`bioplastic.plotting`, :mod:`bioplastic.figures._drawing`, the
``draw_*`` functions and the drawing helpers of the figure modules), so a
change of a plot only redraws the PNGs from the saved results
(:func:`bioplastic.figures.replot`). Rebuilds with unchanged sources reuse
everything.

Configuration (environment variables, read when the build starts):

``BIOPLASTIC_GALLERY_CACHE``
    The cache folder (default ``<outdir>/../gallery-cache``, i.e.
    ``docs/_build/gallery-cache``).
``BIOPLASTIC_DATA_DIR``
    The data sets of the SARCOS and MNIST figures (made absolute here).
``BIOPLASTIC_GALLERY_JOBS``
    Worker processes (default: the usable CPUs).
``BIOPLASTIC_GALLERY_RESULTS``
    Folders (separated by ``os.pathsep``) searched for quick-mode results
    pairs ``<name>_results.npz/.json`` to use instead of computing them,
    e.g. those the test suite wrote for the same code (the CI build does
    this; see ``.ci/run``).

A figure that fails is reported as a warning naming it and the end of its
log (``sphinx-build -W`` turns that into an error); its gallery entry says
it was not built.

Directives:

``.. bioplastic-gallery::``
    One section per registered figure: its PNG, the command that made it and
    the first line of its description.
``.. bioplastic-study-figures:: MODULE``
    One section per figure registered by the figure modules of ``MODULE``
    (e.g. ``bioplastic.figures.hiratani2022``): the commands of its quick and
    full modes and of a redraw, its description (settings of both modes, the
    equations), its gallery image.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

logger = logging.getLogger(__name__)

#: where the PNGs are copied for Sphinx, relative to the documentation's source
IMAGES_DIR = "gallery/_generated"
#: the page of the gallery (for links from the study pages)
GALLERY_DOC = "gallery"
#: tasks that read a data set (their figures need BIOPLASTIC_DATA_DIR)
DATA_TASKS = ("sarcos", "mnist", "cifar10", "idx_images")
#: source files that hold drawing code only
DRAWING_FILES = ("plotting.py", "figures/_drawing.py", "figures/hiratani2022/_style.py")
#: modules that hold drawing code only (their imports are left out of the computing fingerprint)
DRAWING_MODULES = ("plotting", "_drawing", "_style")
#: functions of the figure modules that draw (left out of the computing fingerprint)
DRAWING_PREFIXES = ("draw_", "_draw", "plot_")


# -- what the figures are --------------------------------------------------------------------------


def figure_names():
    """The registered figures, sorted (:func:`bioplastic.figures.available_figures`)."""
    from bioplastic.figures import available_figures

    return available_figures()


def figure_module(name):
    """The module that registers figure ``name``."""
    from bioplastic.figures import FIGURES, available_figures

    available_figures()
    return FIGURES[name].__module__


def figure_description(name):
    """The description of figure ``name``: its compute step's docstring without the Parameters/Returns sections."""
    import inspect

    from bioplastic.figures import FIGURES, available_figures

    available_figures()
    run = FIGURES[name]
    doc = inspect.getdoc(getattr(run, "compute", run)) or ""
    for marker in ("\nParameters\n----------", "\nReturns\n-------"):
        doc = doc.split(marker)[0]
    return doc.strip()


def quick_command(name, *, needs_data):
    """The command that makes figure ``name``'s gallery image."""
    prefix = "BIOPLASTIC_DATA_DIR=../shared/data " if needs_data else ""
    return f"{prefix}bioplastic figure {name} --quick"


# -- the cache -------------------------------------------------------------------------------------


def _package_dir():
    import bioplastic

    return Path(bioplastic.__file__).resolve().parent


def _is_drawing(node):
    if isinstance(node, ast.FunctionDef):
        return node.name.startswith(DRAWING_PREFIXES)
    if isinstance(node, ast.ImportFrom):  # the imports of the drawing helpers
        return (node.module or "").rpartition(".")[2] in DRAWING_MODULES
    return False


def _strip_drawing(source):
    """``source`` without its top-level drawing functions and their imports, as an AST dump (comments and layout do not count)."""
    tree = ast.parse(source)
    tree.body = [node for node in tree.body if not _is_drawing(node)]
    return ast.dump(tree)


def fingerprints(study):
    """``(compute, draw)``: hashes of the code the figures of ``study`` compute with, and of all that code.

    The package counts except the other studies' folders of
    :mod:`bioplastic.figures`. The first hash changes when anything but
    drawing code changes (the study's figures are then computed again), the
    second with any change (their PNGs are then redrawn).
    """
    root = _package_dir()
    own = study.split(".")[2] if study.count(".") >= 2 else None
    compute, draw = hashlib.sha256(), hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        parts = rel.split("/")
        if len(parts) > 2 and parts[0] == "figures" and parts[1] != own:
            continue  # another study
        text = path.read_text()
        draw.update(rel.encode() + b"\0" + text.encode() + b"\0")
        if rel in DRAWING_FILES:
            continue
        compute.update(rel.encode() + b"\0" + (_strip_drawing(text) if rel.startswith("figures/") else text).encode() + b"\0")
    return compute.hexdigest()[:16], draw.hexdigest()[:16]


def cache_dir(outdir):
    """The cache folder: ``BIOPLASTIC_GALLERY_CACHE`` or ``<outdir>/../gallery-cache``."""
    configured = os.environ.get("BIOPLASTIC_GALLERY_CACHE")
    return Path(configured).resolve() if configured else Path(outdir).resolve().parent / "gallery-cache"


def _has_results(folder, name):
    return (folder / f"{name}_results.json").exists()


def _jobs():
    configured = os.environ.get("BIOPLASTIC_GALLERY_JOBS")
    if configured:
        return max(1, int(configured))
    from bioplastic.engines.numpy import usable_cpus

    return max(1, usable_cpus())


def _worker_environment():
    env = dict(os.environ)
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("MKL_NUM_THREADS", "1")
    env["MPLBACKEND"] = "Agg"
    return env


def _compute_group(folder, names):
    """Run ``names`` (one figure module) in quick mode into ``folder`` in a worker process; return (rc, seconds)."""
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(folder / "build.log", "w") as log:
        rc = subprocess.call([sys.executable, __file__, "compute", str(folder), *names], stdout=log, stderr=subprocess.STDOUT,
                             env=_worker_environment())
    return rc, time.perf_counter() - start


def _log_tail(folder, lines=15):
    path = folder / "build.log"
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def reusable_results(name, folders):
    """The newest quick-mode results pair of figure ``name`` under ``folders`` (searched recursively), or None.

    A pair counts when its metadata names the figure and, where it says so,
    quick mode.
    """
    candidates = []
    for folder in folders:
        for path in Path(folder).rglob(f"{name}_results.json"):
            try:
                metadata = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if metadata.get("figure") == name and metadata.get("quick", True) is True and path.with_suffix(".npz").exists():
                candidates.append(path)
    return max(candidates, key=lambda p: p.stat().st_mtime).with_suffix("") if candidates else None


def _reuse_folders():
    configured = os.environ.get("BIOPLASTIC_GALLERY_RESULTS", "")
    return [Path(p) for p in configured.split(os.pathsep) if p and Path(p).is_dir()]


def build_gallery(srcdir, outdir):
    """Make every figure's results available, redraw the PNGs that are out of date, copy them for Sphinx.

    Results come from the cache (valid while the study's computing code is
    unchanged), else from quick-mode results found under
    ``BIOPLASTIC_GALLERY_RESULTS`` (e.g. those the test suite just wrote),
    else they are computed.

    Returns
    -------
    dict
        ``{name: {"png": path or None, "needs_data": bool, "error": str or None}}``.
    """
    from bioplastic.figures import replot
    from bioplastic.io import copy_pair

    root = cache_dir(outdir)
    root.mkdir(parents=True, exist_ok=True)
    names = figure_names()
    groups = {}
    for name in names:
        groups.setdefault(figure_module(name), []).append(name)
    keys = {study: fingerprints(study) for study in {study_of(name) for name in names}}
    folders = {}
    for module in groups:
        compute_key = keys[".".join(module.split(".")[:3])][0]
        folders[module] = root / module / compute_key
        for old in (root / module).glob("*"):
            if old.is_dir() and old != folders[module]:
                shutil.rmtree(old, ignore_errors=True)
    reuse = _reuse_folders()
    reused = []
    if reuse:
        for module, members in groups.items():
            for name in members:
                found = None if _has_results(folders[module], name) else reusable_results(name, reuse)
                if found is not None:
                    folders[module].mkdir(parents=True, exist_ok=True)
                    copy_pair(found, folders[module] / f"{name}_results")
                    reused.append(name)
        if reused:
            logger.info(f"gallery: {len(reused)} quick figures from the results under {', '.join(map(str, reuse))}")
    todo = {module: [n for n in members if not _has_results(folders[module], n)] for module, members in groups.items()}
    todo = {module: members for module, members in todo.items() if members}
    if todo:
        jobs = min(_jobs(), len(todo))
        logger.info(f"gallery: computing {sum(len(m) for m in todo.values())} quick figures on {jobs} processes")
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            done = dict(zip(todo, pool.map(lambda item: _compute_group(folders[item[0]], item[1]), todo.items()), strict=True))
        for module, (rc, seconds) in done.items():
            logger.info(f"gallery: {module} ({', '.join(todo[module])}) rc={rc} in {seconds:.0f} s")
        logger.info(f"gallery: computed in {time.perf_counter() - start:.0f} s")
    images = Path(srcdir) / IMAGES_DIR
    images.mkdir(parents=True, exist_ok=True)
    status = {}
    for name in names:
        module = figure_module(name)
        folder = folders[module]
        entry = {"png": None, "needs_data": False, "error": None}
        status[name] = entry
        if not _has_results(folder, name):
            hint = "" if os.environ.get("BIOPLASTIC_DATA_DIR") else " (BIOPLASTIC_DATA_DIR is not set; the data figures need it)"
            entry["error"] = f"figure {name} was not computed{hint}; the end of {folder / 'build.log'}:\n{_log_tail(folder)}"
            continue
        metadata = json.loads((folder / f"{name}_results.json").read_text())
        config = metadata.get("config")
        task = config.get("task") if isinstance(config, dict) else None
        entry["needs_data"] = isinstance(task, dict) and task.get("name") in DATA_TASKS
        png, stamp = images / f"{name}.png", images / f"{name}.key"
        key = "-".join(keys[study_of(name)])
        if not png.exists() or not stamp.exists() or stamp.read_text() != key:
            import matplotlib

            matplotlib.use("Agg")
            replot(name, folder / f"{name}_results", png=png)
            stamp.write_text(key)
        entry["png"] = png
    for path in images.glob("*.png"):
        if path.stem not in status:
            path.unlink()
            path.with_suffix(".key").unlink(missing_ok=True)
    return status


# -- Sphinx ----------------------------------------------------------------------------------------


def _config_inited(app, config):
    data_dir = os.environ.get("BIOPLASTIC_DATA_DIR")
    if data_dir:  # against the folder sphinx-build runs in; kernels and workers run elsewhere
        os.environ["BIOPLASTIC_DATA_DIR"] = str(Path(data_dir).resolve())
    write_study_pages(app.srcdir)  # before Sphinx discovers the sources


STUDIES_DIR = "studies"
#: pages written for the studies that have no page of their own
GENERATED_STUDIES_DIR = "studies/generated"


def write_study_pages(srcdir):
    """Write ``studies/generated/<study>.rst`` for every study without a ``studies/<study>.rst``; return the studies."""
    import importlib

    studies = sorted({study_of(name) for name in figure_names()})
    folder = Path(srcdir) / GENERATED_STUDIES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    wanted = set()
    for study in studies:
        short = study.rpartition(".")[2]
        if (Path(srcdir) / STUDIES_DIR / f"{short}.rst").exists():
            continue
        doc = (importlib.import_module(study).__doc__ or short).strip().split("\n")[0]
        title = doc.rstrip(".")
        text = "\n".join([title, "=" * len(title), "", f".. automodule:: {study}", "   :no-members:", "   :no-index:", "",
                          "Figures", "-------", "", f".. bioplastic-study-figures:: {study}", ""])
        path = folder / f"{short}.rst"
        wanted.add(path.name)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
    for path in folder.glob("*.rst"):
        if path.name not in wanted:
            path.unlink()
    return studies


def _builder_inited(app):
    app.env.bioplastic_gallery = build_gallery(app.srcdir, app.outdir)
    for entry in app.env.bioplastic_gallery.values():
        if entry["error"]:
            logger.warning(entry["error"], type="bioplastic", subtype="gallery")


def _status(env):
    status = getattr(env, "bioplastic_gallery", None)
    if status is None:  # a directive used without the build step (e.g. in a test)
        status = {name: {"png": None, "needs_data": False, "error": "not built"} for name in figure_names()}
    return status


def _title(text, char):
    return [text, char * len(text), ""]


def gallery_rst(status):
    """The reStructuredText of the gallery: a section and an image per figure of ``status``."""
    lines = []
    for name in sorted(status):
        entry = status[name]
        summary = figure_description(name).split("\n\n")[0].replace("\n", " ")
        lines += [f".. _gallery-{name}:", ""] + _title(name, "-")
        lines += [f".. currentmodule:: {figure_module(name)}", "", summary, ""]
        if entry["png"] is not None:
            lines += [f".. image:: /{IMAGES_DIR}/{name}.png", f"   :alt: {name}, quick mode", "   :width: 100%", ""]
        else:
            lines += [f"*Not built:* {entry['error'].splitlines()[0] if entry['error'] else 'unknown reason'}", ""]
        lines += ["Made by::", "", f"   {quick_command(name, needs_data=entry['needs_data'])}", ""]
        lines += [f"Description, settings and the full-size run: :ref:`figure-{name}`.", ""]
    return lines


def study_of(name):
    """The study package of figure ``name`` (``bioplastic.figures.<study>``)."""
    return ".".join(figure_module(name).split(".")[:3])


def study_rst(module, status):
    """The reStructuredText of the figures of the study ``module``: a table, then commands, description, image."""
    names = [name for name in sorted(status) if study_of(name) == module]
    lines = [".. list-table::", "   :header-rows: 1", "   :widths: 12 70 18", "", "   * - figure", "     - shows",
             "     - needs"]
    for name in names:
        first = figure_description(name).split("\n\n")[0].replace("\n", " ")
        needs = "``BIOPLASTIC_DATA_DIR``" if status[name]["needs_data"] else "nothing"
        lines += [f"   * - :ref:`{name} <figure-{name}>`", f"     - {first}", f"     - {needs}"]
    lines.append("")
    for name in names:
        entry = status[name]
        data = "BIOPLASTIC_DATA_DIR=../shared/data " if entry["needs_data"] else ""
        lines += [f".. _figure-{name}:", ""] + _title(f"{name}", "~")
        # the description's references are relative to its module
        lines += [f".. currentmodule:: {figure_module(name)}", "", figure_description(name), ""]
        lines += ["Commands (quick mode: seconds to minutes; full mode: the paper's sizes, resumes from its checkpoints)::", "",
                  f"   {data}bioplastic figure {name} --quick --out figures_out",
                  f"   {data}bioplastic figure {name} --out figures_out",
                  f"   bioplastic figure {name} --replot --out figures_out   # redraw from the saved results", ""]
        run = figure_module(name)
        lines += [f"Code: :func:`{run}.compute_{name}` (the numbers) and :func:`{run}.draw_{name}` (the plot).", ""]
        if entry["png"] is not None:
            lines += [f".. image:: /{IMAGES_DIR}/{name}.png", f"   :alt: {name}, quick mode", "   :width: 80%", ""]
    return lines


class _GeneratedRst(SphinxDirective):
    has_content = False

    def lines(self):
        raise NotImplementedError

    def run(self):
        node = nodes.section()
        node.document = self.state.document
        self.env.note_dependency(__file__)
        nested_parse_with_titles(self.state, StringList(self.lines(), source=self.env.docname), node)
        return node.children


class GalleryDirective(_GeneratedRst):
    """``.. bioplastic-gallery::``: every registered figure's quick-mode image."""

    def lines(self):
        return gallery_rst(_status(self.env))


class StudyFiguresDirective(_GeneratedRst):
    """``.. bioplastic-study-figures:: MODULE``: the figures of one study."""

    required_arguments = 1

    def lines(self):
        return study_rst(self.arguments[0], _status(self.env))


def _env_get_outdated(app, env, added, changed, removed):
    # the generated sections depend on the figures, not on the page sources: reread them every build
    return [doc for doc in env.found_docs if doc == GALLERY_DOC or doc.startswith("studies/")]


def setup(app):
    app.connect("config-inited", _config_inited)
    app.connect("builder-inited", _builder_inited)
    app.connect("env-get-outdated", _env_get_outdated)
    app.add_directive("bioplastic-gallery", GalleryDirective)
    app.add_directive("bioplastic-study-figures", StudyFiguresDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


# -- the worker process ----------------------------------------------------------------------------


def _compute_main(folder, names):
    from bioplastic.figures import run_figure

    failed = []
    for name in names:
        start = time.perf_counter()
        try:
            run_figure(name, quick=True, out_dir=folder, progress=False)
        except Exception:  # report and go on with the other figures of the group
            import traceback

            traceback.print_exc()
            failed.append(name)
        print(f"{name}: {time.perf_counter() - start:.1f} s{' FAILED' if name in failed else ''}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] != "compute":
        sys.exit(f"usage: {sys.argv[0]} compute FOLDER NAME...")
    sys.exit(_compute_main(Path(sys.argv[2]), sys.argv[3:]))
