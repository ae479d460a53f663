"""Generate the API reference pages from the package's ``__all__`` lists, at build time.

Every public module or package of :mod:`bioplastic` (no name component
starting with an underscore) that defines ``__all__`` is a *namespace*. Each
object named in some ``__all__`` is documented once, at its *home*: among
the namespaces that list it, the deepest of the packages, the modules
directly in ``bioplastic`` and the modules a package lists in its own
``__all__`` (``bioplastic.engines.numpy``, the figure modules) that contains
the module defining it (else the deepest of those, else the deepest module
that lists it). A reference to any other name of the object
(``bioplastic.train``, ``bioplastic.plasticity.base.PlasticityRule``, with or
without a member after it) resolves to its home. A namespace gets a page when it is one of those or when it
lists a name documented nowhere else; its page lists every name of its
``__all__`` (an :rst:dir:`autosummary` table with stubs for the names whose
home it is, a table of links for the others). New names appear as soon as
they are added to an ``__all__``.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import types
import warnings
from pathlib import Path
from typing import NamedTuple

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

PACKAGE = "bioplastic"
#: namespaces left out of the reference (compatibility re-exports, the command line's entry point)
EXCLUDED = ("bioplastic.figures.linear", "bioplastic.figures.nonlinear", "bioplastic.cli")
#: folder (relative to the documentation's source) of the namespace pages, and of the stubs autosummary writes
PAGES_DIR = "api/namespaces"
STUBS_DIR = "api/generated"


class Entry(NamedTuple):
    """One name of one namespace: ``namespace.name`` is documented at ``home`` (a full name)."""

    namespace: str
    name: str
    home: str
    kind: str  # "module", "class", "function" or "data"


def _public(name):
    return not any(part.startswith("_") for part in name.split("."))


def namespaces():
    """``{full name: module}`` of every public module and package of the package that defines ``__all__``."""
    root = importlib.import_module(PACKAGE)
    found = {PACKAGE: root}
    for info in pkgutil.walk_packages(root.__path__, PACKAGE + "."):
        if not _public(info.name) or info.name in EXCLUDED:
            continue
        module = importlib.import_module(info.name)
        if getattr(module, "__all__", None) is not None:
            found[info.name] = module
    return found


def _primary(name, module, found):
    if name == PACKAGE or hasattr(module, "__path__") or name.count(".") == 1:
        return True
    parent, _, last = name.rpartition(".")
    return parent in found and last in getattr(found[parent], "__all__", ()) and getattr(found[parent], last, None) is module


def _kind(obj):
    if isinstance(obj, types.ModuleType):
        return "module"
    if inspect.isclass(obj):
        return "class"
    if callable(obj):
        return "function"
    return "data"


def _members(module):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return [(name, getattr(module, name)) for name in module.__all__]


def entries(found=None):
    """Every :class:`Entry` of every namespace, in the order of the ``__all__`` lists."""
    found = namespaces() if found is None else found
    primary = {name for name, module in found.items() if _primary(name, module, found)}
    listed = {}  # id(object) -> namespaces listing it
    for ns, module in found.items():
        for _name, obj in _members(module):
            if _kind(obj) not in ("module", "data"):
                listed.setdefault(id(obj), []).append(ns)
    result = []
    for ns, module in found.items():
        for name, obj in _members(module):
            kind = _kind(obj)
            if kind == "module":
                home = obj.__name__
            elif kind == "data":
                home = f"{ns}.{name}"
            else:
                owners = listed[id(obj)]
                defined = getattr(obj, "__module__", None) or ""
                preferred = ([o for o in owners if o in primary and (defined == o or defined.startswith(o + "."))]
                             or [o for o in owners if o in primary] or owners)
                home = f"{max(preferred, key=lambda o: o.count('.'))}.{name}"
            result.append(Entry(ns, name, home, kind))
    return result


def pages(found=None):
    """``{namespace: rst text}`` of the namespace pages."""
    found = namespaces() if found is None else found
    everything = entries(found)
    primary = {name for name, module in found.items() if _primary(name, module, found)}
    homes = {e.home.rpartition(".")[0] for e in everything if e.kind != "module"}
    with_page = [ns for ns in found if ns in primary or ns in homes]
    result = {}
    for ns in with_page:
        own = [e for e in everything if e.namespace == ns]
        here = [e for e in own if e.kind != "module" and e.home == f"{ns}.{e.name}"]
        elsewhere = [e for e in own if e not in here]
        lines = [ns, "=" * len(ns), "", f".. automodule:: {ns}", "   :no-members:", ""]
        if here:
            lines += [".. rubric:: Defined here", "", f".. currentmodule:: {ns}", "",
                      ".. autosummary::", "   :toctree: ../generated", "   :nosignatures:", ""]
            lines += [f"   {e.name}" for e in here] + [""]
        if elsewhere:
            lines += [".. rubric:: Also available here", "", ".. currentmodule:: None", "", ".. autosummary::",
                      "   :nosignatures:", ""]
            lines += [f"   ~{e.home}" for e in elsewhere] + [""]
        result[ns] = "\n".join(lines)
    return result


def write_pages(srcdir):
    """Write the namespace pages under ``srcdir/api/namespaces`` (files whose text changed only); return their names."""
    folder = Path(srcdir) / PAGES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    texts = pages()
    for path in folder.glob("*.rst"):
        if path.stem not in texts:
            path.unlink()
    for ns, text in texts.items():
        path = folder / f"{ns}.rst"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
    # the stubs of names that no longer exist (autosummary writes new ones, never removes old ones)
    homes = {e.home for e in entries() if e.kind != "module"}
    for path in (Path(srcdir) / STUBS_DIR).glob("*.rst"):
        if path.stem not in homes:
            path.unlink()
    return sorted(texts)


def rules_rst():
    """A table of every registered plasticity rule: class, names, signal, locality, summary."""
    from bioplastic.plasticity import registered_rules

    lines = [".. list-table::", "   :header-rows: 1", "   :widths: 18 20 8 6 48", "",
             "   * - class", "     - name (aliases)", "     - signal", "     - local", "     - summary"]
    for name, cls in sorted(registered_rules().items()):
        summary = (inspect.getdoc(cls) or "").split("\n\n")[0].replace("\n", " ")
        aliases = ", ".join(f"``{a}``" for a in cls.aliases)
        lines += [f"   * - :class:`~{cls.__module__.rpartition('.')[0]}.{cls.__name__}`",
                  f"     - ``{name}``" + (f" ({aliases})" if aliases else ""),
                  f"     - {cls.signal}", f"     - {'yes' if cls.local else 'no'}", f"     - {summary}"]
    return lines + [""]


class RulesDirective(SphinxDirective):
    """``.. bioplastic-rules::``: the table of :func:`rules_rst`."""

    def run(self):
        node = nodes.container()
        self.state.nested_parse(StringList(rules_rst(), source=self.env.docname), self.content_offset, node)
        return node.children


def aliases(found=None):
    """``{other name: home}`` for every object: its names in other namespaces and where it is defined."""
    result = {}
    for e in entries(found):
        if e.kind == "module":
            continue
        alias = f"{e.namespace}.{e.name}"
        if alias != e.home:
            result.setdefault(alias, e.home)
        obj = _resolve(e.home)
        module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
        if e.kind != "data" and module and qualname and f"{module}.{qualname}" != e.home:
            result.setdefault(f"{module}.{qualname}", e.home)
    return result


def _resolve(full_name):
    module, _, name = full_name.rpartition(".")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return getattr(importlib.import_module(module), name)


def resolve_alias(target, table):
    """``target`` with its longest prefix that is another name of a documented object replaced by its home, or None."""
    parts = target.split(".")
    for k in range(len(parts), 0, -1):
        home = table.get(".".join(parts[:k]))
        if home is not None:
            return ".".join([home, *parts[k:]])
    return None


def _missing_reference(app, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    table = getattr(app, "_bioplastic_aliases", None)
    if table is None:
        table = app._bioplastic_aliases = aliases()
    target = node.get("reftarget", "")
    candidates = [target.lstrip(".~")]
    for context in (node.get("py:class"), node.get("py:module")):
        if context:
            candidates.append(f"{context}.{target.lstrip('.~')}")
    if node.get("py:module") and node.get("py:class"):
        candidates.append(f"{node['py:module']}.{node['py:class']}.{target.lstrip('.~')}")
    module = (node.get("py:module") or "").split(".")
    # then as Python would find a name imported from a parent package (``replot`` in a figure module)
    candidates += [".".join([*module[:k], target.lstrip(".~")]) for k in range(len(module) - 1, 0, -1)]
    domain = env.domains["py"]
    for candidate in candidates:
        home = resolve_alias(candidate, table)
        if home is None:
            continue
        new = node.deepcopy()
        new["reftarget"], new["py:module"], new["py:class"] = home, None, None
        found = domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"], home, new, contnode)
        if found is not None:
            return found
    return None


def _drop_object_base(app, name, obj, options, bases):
    """``Bases: object`` says nothing: leave it out."""
    bases[:] = [base for base in bases if base is not object]


def _config_inited(app, config):
    # before Sphinx discovers the sources, so that new pages are read and autosummary writes their stubs
    write_pages(app.srcdir)


def setup(app):
    app.connect("config-inited", _config_inited)
    app.connect("missing-reference", _missing_reference)
    app.connect("autodoc-process-bases", _drop_object_base)
    app.add_directive("bioplastic-rules", RulesDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
