"""Sphinx configuration of the bioplastic documentation.

Build (from the repository root; the data figures of the gallery read the
offline data sets)::

    BIOPLASTIC_DATA_DIR=../shared/data sphinx-build -W -b html docs docs/_build/html

The API reference is generated from the package's ``__all__`` lists
(``_ext/api_pages.py``), the gallery and the figures of the study pages from
the registered figures (``_ext/figure_gallery.py``, cached in
``docs/_build/gallery-cache``). The notebooks of ``notebooks/`` are copied
here and rendered by myst-nb; ``BIOPLASTIC_DOCS_NOTEBOOKS`` sets how they are
executed (``cache``, the default: executed once and cached; ``off``: shown
without outputs, as in CI, where the test suite executes them). The page on
writing a rule of one's own is always executed, so its code is checked by
every build.
"""

from __future__ import annotations

import inspect
import os
import re
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(ROOT))

import bioplastic  # noqa: E402

os.environ.setdefault("MPLBACKEND", "Agg")
# BIOPLASTIC_DATA_DIR is made absolute against the folder sphinx-build runs in by the gallery
# extension (conf.py itself runs in docs/), before kernels and worker processes inherit it.

project = "bioplastic"
author = "the bioplastic developers"
copyright = "the bioplastic developers"  # noqa: A001 - Sphinx's name
release = version = bioplastic.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_nb",
    "api_pages",
    "figure_gallery",
]

exclude_patterns = ["_build", "**.ipynb_checkpoints", "README.md"]
templates_path = ["_templates"]
# alabaster (Sphinx's own theme): its sidebar expands only the current branch of the navigation, so a
# page costs the same however many API pages there are (themes that render the whole tree into every
# page make the build quadratic in the number of pages)
html_theme = "alabaster"
html_title = f"bioplastic {release}"
html_static_path = []
html_theme_options = {
    "description": "biologically plausible learning in rate-coded networks",
    "sidebar_collapse": True,
    "sidebar_includehidden": True,
    "fixed_sidebar": True,
    "page_width": "1100px",
    "sidebar_width": "260px",
}
html_sidebars = {"**": ["about.html", "navigation.html", "relations.html", "searchbox.html"]}

# -- API reference ------------------------------------------------------------------------------
autosummary_generate = True
autosummary_generate_overwrite = False
autosummary_imported_members = True
autodoc_member_order = "bysource"
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_attributes_as_param_list = False
suppress_warnings = [
    # a relative reference such as :mod:`.homeostasis` that names a module of two packages
    # (bioplastic.homeostasis and bioplastic.engines.brian2.homeostasis) links to the first; still a link
    "ref.python",
]

# -- notebooks ----------------------------------------------------------------------------------
NOTEBOOKS = DOCS / "notebooks"


def copy_notebooks():
    """Copy ``notebooks/*.ipynb`` to ``docs/notebooks`` (the files that changed), remove copies of deleted ones."""
    NOTEBOOKS.mkdir(exist_ok=True)
    for old in NOTEBOOKS.glob("*.ipynb"):
        if not (ROOT / "notebooks" / old.name).exists():
            old.unlink()
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        target = NOTEBOOKS / notebook.name
        if not target.exists() or target.read_bytes() != notebook.read_bytes():
            shutil.copyfile(notebook, target)


nb_execution_mode = os.environ.get("BIOPLASTIC_DOCS_NOTEBOOKS", "cache")
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_execution_cache_path = str(DOCS / "_build" / "jupyter-cache")
nb_merge_streams = True
myst_enable_extensions = ["dollarmath"]


# -- docstrings -----------------------------------------------------------------------------------
_LITERAL_BEFORE_LETTER = re.compile(r"(``[^`\s](?:[^`]*[^`\s])?``)(?=[A-Za-z])")


def _escape_literal_suffixes(app, what, name, obj, options, lines):
    """``NeuronGroup``s is plain English but not reStructuredText: write it as ``NeuronGroup``\\ s.

    A constant without a description of its own (``__version__``, a registry
    dict) would show its type's docstring (``str(object='') -> str``); it
    shows nothing instead.
    """
    if what in ("data", "attribute") and obj is not None:
        inherited = inspect.getdoc(type(obj))
        if inherited and "\n".join(lines).strip() == inherited.strip():
            lines[:] = []
            return
    lines[:] = [_LITERAL_BEFORE_LETTER.sub(r"\1\\ ", line) for line in lines]


def _summary_keeping_literals(doc, settings):
    """The first sentence of ``doc``, extended while it ends inside an inline literal (``E[a . b]``).

    Sphinx's own ``extract_summary`` splits at the first period followed by a
    space even inside ``...`` (it checks the whole stanza for broken markup,
    not the sentence it keeps), which leaves a dangling literal in the table.
    """
    import sphinx.ext.autosummary as autosummary

    original = getattr(autosummary.extract_summary, "__wrapped__", autosummary.extract_summary)
    summary = original(doc, settings)
    if summary.count("``") % 2 == 0:
        return summary
    stanza = []
    for line in doc:
        if not line.strip():
            if stanza:
                break
            continue
        stanza.append(line.strip())
    summary = ""
    for sentence in re.split(r"(?<=\.)\s+", " ".join(stanza)):
        summary = f"{summary} {sentence}".strip()
        if summary.count("``") % 2 == 0:
            break
    return summary


def setup(app):
    import sphinx.ext.autosummary as autosummary

    copy_notebooks()  # before Sphinx looks for the sources
    if not hasattr(autosummary.extract_summary, "__wrapped__"):
        _summary_keeping_literals.__wrapped__ = autosummary.extract_summary
        autosummary.extract_summary = _summary_keeping_literals
    app.connect("autodoc-process-docstring", _escape_literal_suffixes)
