"""The documentation's sources: an API page for every public name, a gallery image per figure, a page per study.

These check what the build generates from the package (``docs/_ext``) without
running the whole build; ``sphinx-build -W -b html docs docs/_build/html``
(README, ``.ci/run``) builds it with warnings as errors.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import shutil
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sphinx", reason="the documentation needs the docs extra: pip install -e '.[docs]'")

import bioplastic  # noqa: E402
from bioplastic.figures import FIGURES, FigureResults, available_figures, register_figure  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "_ext"))

import api_pages  # noqa: E402
import figure_gallery  # noqa: E402


def _public_namespaces():
    """``bioplastic`` and its public sub-packages that define ``__all__``, found independently of the docs' code."""
    found = {"bioplastic": bioplastic}
    for info in pkgutil.walk_packages(bioplastic.__path__, "bioplastic."):
        if info.ispkg and not any(part.startswith("_") for part in info.name.split(".")):
            module = importlib.import_module(info.name)
            if hasattr(module, "__all__"):
                found[info.name] = module
    return found


def _documented(tmp_path):
    """The names with a stub page (autosummary with ``:toctree:``) and the module pages of the generated sources."""
    from sphinx.ext.autosummary.generate import find_autosummary_in_files

    names = api_pages.write_pages(tmp_path)
    pages = sorted((tmp_path / api_pages.PAGES_DIR).glob("*.rst"))
    assert sorted(p.stem for p in pages) == names
    entries = find_autosummary_in_files([str(p) for p in pages])
    return {e.name for e in entries if e.path}, set(names), pages


def test_every_public_name_of_the_package_and_its_sub_packages_has_an_api_page(tmp_path):
    with_stub, module_pages, _ = _documented(tmp_path)
    missing = []
    for ns, module in _public_namespaces().items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # deprecated aliases are documented too
            objects = {name: getattr(module, name) for name in module.__all__}
        for name, obj in objects.items():
            if isinstance(obj, types.ModuleType):
                if obj.__name__ not in module_pages:
                    missing.append(f"{ns}.{name} (module)")
                continue
            homes = [h for h in with_stub if h.rpartition(".")[2] == name and _resolve(h) is obj]
            if not homes:
                missing.append(f"{ns}.{name}")
    assert not missing, f"public names without an API page: {missing}"


def _resolve(full_name):
    module, _, name = full_name.rpartition(".")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return getattr(importlib.import_module(module), name)


def test_each_object_has_one_page_and_re_exports_link_to_it(tmp_path):
    with_stub, _, pages = _documented(tmp_path)
    homes = {}
    for full_name in with_stub:
        obj = _resolve(full_name)
        if callable(obj):  # an object (under one name: aliases such as Updates = Directions have pages of their own)
            key = (id(obj), full_name.rpartition(".")[2])
            assert key not in homes, f"{full_name} and {homes.get(key)} document the same object"
            homes[key] = full_name
    text = (tmp_path / api_pages.PAGES_DIR / "bioplastic.rst").read_text()
    # bioplastic.NodePerturbation is documented once, as bioplastic.plasticity.NodePerturbation, and linked from here
    assert "   ~bioplastic.plasticity.NodePerturbation" in text and ".. automodule:: bioplastic\n" in text
    assert "bioplastic.plasticity.NodePerturbation" in with_stub and "bioplastic.NodePerturbation" not in with_stub
    assert len(pages) >= len(_public_namespaces())


def test_a_name_added_to_an_all_gets_a_page(tmp_path, monkeypatch):
    import bioplastic.plasticity as plasticity

    def shiny_new_rule_helper():
        """A helper added after the documentation was written."""

    shiny_new_rule_helper.__module__ = "bioplastic.plasticity.shiny"
    monkeypatch.setattr(plasticity, "shiny_new_rule_helper", shiny_new_rule_helper, raising=False)
    monkeypatch.setattr(plasticity, "__all__", [*plasticity.__all__, "shiny_new_rule_helper"])
    with_stub, _, _ = _documented(tmp_path)
    assert "bioplastic.plasticity.shiny_new_rule_helper" in with_stub


def test_stale_pages_and_stubs_are_removed(tmp_path):
    stubs = tmp_path / api_pages.STUBS_DIR
    stubs.mkdir(parents=True)
    (stubs / "bioplastic.removed_function.rst").write_text("old")
    (stubs / "bioplastic.plasticity.NodePerturbation.rst").write_text("kept")
    (tmp_path / api_pages.PAGES_DIR).mkdir(parents=True)
    (tmp_path / api_pages.PAGES_DIR / "bioplastic.removed_module.rst").write_text("old")
    api_pages.write_pages(tmp_path)
    assert not (stubs / "bioplastic.removed_function.rst").exists()
    assert (stubs / "bioplastic.plasticity.NodePerturbation.rst").read_text() == "kept"
    assert not (tmp_path / api_pages.PAGES_DIR / "bioplastic.removed_module.rst").exists()


def test_the_rules_table_lists_every_registered_rule():
    text = "\n".join(api_pages.rules_rst())
    for name, cls in bioplastic.registered_rules().items():
        assert f"     - ``{name}``" in text
        assert f"{cls.__name__}`" in text
    assert "``node_perturbation`` (``np``)" in text


def _status(png=True):
    return {name: {"png": Path(f"{name}.png") if png else None, "needs_data": name.startswith(("fig4", "fig5")), "error": None}
            for name in available_figures()}


def test_the_gallery_shows_one_image_per_registered_figure_with_its_command():
    assert ".. bioplastic-gallery::" in (DOCS / "gallery.rst").read_text()
    lines = figure_gallery.gallery_rst(_status())
    images = [line.split("/")[-1] for line in lines if line.startswith(".. image::")]
    assert sorted(images) == sorted(f"{name}.png" for name in available_figures())
    assert len(images) == len(FIGURES) > 20
    text = "\n".join(lines)
    assert "   bioplastic figure fig1a --quick\n" in text
    assert "   BIOPLASTIC_DATA_DIR=../shared/data bioplastic figure fig4b --quick\n" in text
    # a figure that could not be built says so instead of showing an image
    broken = _status()
    broken["fig1a"].update(png=None, error="figure fig1a was not computed; the end of its log:\nTraceback")
    text = "\n".join(figure_gallery.gallery_rst(broken))
    assert "*Not built:* figure fig1a was not computed; the end of its log:" in text and "fig1a.png" not in text


def test_every_study_has_a_page_listing_its_figures_commands_and_modes(tmp_path):
    status = _status()
    shutil.copytree(DOCS / "studies", tmp_path / "studies", ignore=shutil.ignore_patterns("generated"))
    studies = figure_gallery.write_study_pages(tmp_path)  # pages for the studies without a page of their own
    assert "bioplastic.figures.hiratani2022" in studies
    assert not (tmp_path / figure_gallery.GENERATED_STUDIES_DIR / "hiratani2022.rst").exists()
    assert ".. bioplastic-study-figures:: bioplastic.figures.hiratani2022" in (tmp_path / "studies" / "hiratani2022.rst").read_text()
    for study in studies:
        short = study.rpartition(".")[2]
        page = tmp_path / "studies" / f"{short}.rst"
        if not page.exists():
            page = tmp_path / figure_gallery.GENERATED_STUDIES_DIR / f"{short}.rst"
        assert f".. bioplastic-study-figures:: {study}" in page.read_text()
        text = "\n".join(figure_gallery.study_rst(study, status))
        for name in (n for n in available_figures() if figure_gallery.study_of(n) == study):
            data = "BIOPLASTIC_DATA_DIR=../shared/data " if status[name]["needs_data"] else ""
            assert f"   {data}bioplastic figure {name} --quick --out figures_out\n" in text
            assert f"   {data}bioplastic figure {name} --out figures_out\n" in text
            assert f"bioplastic figure {name} --replot --out figures_out" in text
    hiratani = "\n".join(figure_gallery.study_rst("bioplastic.figures.hiratani2022", status))
    # the description of each figure says what its quick and full modes run, with the paper's equations
    assert "Full: ``Lx=100, Lh=10^4, Ly=10``" in hiratani and "Quick: ``Lx=50, Lh=10^6, Ly=5``" in hiratani
    assert "Eq. 12" in hiratani and "Eq. 14" in hiratani
    assert "Parameters\n----------" not in hiratani


def _toy_compute(*, quick=False, progress=True, out_dir=None):
    """Toy figure: a line."""
    return FigureResults({"x": np.arange(3.0)}, {"figure": "toy_gallery_figure", "quick": bool(quick), "summary": {}})


def _toy_draw(results):
    from matplotlib.figure import Figure

    fig = Figure()
    fig.subplots().plot(results.arrays["x"])
    return fig


def test_the_gallery_build_step_draws_saved_results_and_keeps_them_until_the_code_changes(tmp_path, monkeypatch):
    from bioplastic.io import save_arrays_and_metadata

    monkeypatch.setitem(FIGURES, "toy_gallery_figure", None)  # removed again afterwards
    register_figure("toy_gallery_figure", _toy_compute, _toy_draw)
    monkeypatch.setattr(figure_gallery, "figure_names", lambda: ["toy_gallery_figure"])
    saved = tmp_path / "tests_output" / "sub"
    saved.mkdir(parents=True)
    save_arrays_and_metadata(saved / "toy_gallery_figure_results", {"x": np.arange(3.0)},
                             {"figure": "toy_gallery_figure", "quick": True, "summary": {}})
    monkeypatch.setenv("BIOPLASTIC_GALLERY_RESULTS", str(tmp_path / "tests_output"))
    monkeypatch.setenv("BIOPLASTIC_GALLERY_CACHE", str(tmp_path / "cache"))
    status = figure_gallery.build_gallery(tmp_path / "src", tmp_path / "out")
    png = tmp_path / "src" / figure_gallery.IMAGES_DIR / "toy_gallery_figure.png"
    assert status == {"toy_gallery_figure": {"png": png, "needs_data": False, "error": None}}
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list((tmp_path / "cache").rglob("toy_gallery_figure_results.json"))  # copied into the cache
    # a rebuild with the same code draws nothing again
    stamp = png.stat().st_mtime_ns
    monkeypatch.delenv("BIOPLASTIC_GALLERY_RESULTS")
    assert figure_gallery.build_gallery(tmp_path / "src", tmp_path / "out")["toy_gallery_figure"]["png"] == png
    assert png.stat().st_mtime_ns == stamp
    # results of a full-size run are not taken for the quick gallery
    assert figure_gallery.reusable_results("toy_gallery_figure", [tmp_path / "tests_output"]) is not None
    save_arrays_and_metadata(saved / "toy_gallery_figure_results", {"x": np.arange(3.0)},
                             {"figure": "toy_gallery_figure", "quick": False, "summary": {}})
    assert figure_gallery.reusable_results("toy_gallery_figure", [tmp_path / "tests_output"]) is None


def test_drawing_code_is_left_out_of_the_computing_fingerprint():
    source = ("import numpy as np\n\nfrom .._drawing import colors\n\n\ndef compute_x():\n    return 1\n\n\n"
              "def draw_x(results):\n    return 2\n")
    changed_draw = source.replace("return 2", "return 3  # another plot").replace("import colors", "import colors, new_figure")
    changed_compute = source.replace("return 1", "return 4")
    strip = figure_gallery._strip_drawing
    assert strip(source) == strip(changed_draw) != strip(changed_compute)
    compute, draw = figure_gallery.fingerprints("bioplastic.figures.hiratani2022")
    assert re.fullmatch("[0-9a-f]{16}", compute) and re.fullmatch("[0-9a-f]{16}", draw) and compute != draw


def test_summaries_keep_inline_literals_whole_and_literal_suffixes_are_escaped():
    spec = importlib.util.spec_from_file_location("bioplastic_docs_conf", DOCS / "conf.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    from docutils.frontend import get_default_settings
    from docutils.parsers.rst import Parser

    document = get_default_settings(Parser)  # the settings autosummary passes
    doc = ["Activation alignment: ``R = E[(W x) . (B^T x)]``. More text", "follows.", "", "Parameters"]
    assert conf._summary_keeping_literals(doc, document) == "Activation alignment: ``R = E[(W x) . (B^T x)]``."
    assert conf._summary_keeping_literals(["Plain. Second."], document) == "Plain."
    lines = ["Populations: ``NeuronGroup``s of rate units, ``x`` and ``y``."]
    conf._escape_literal_suffixes(None, "module", "m", None, {}, lines)
    assert lines == ["Populations: ``NeuronGroup``\\ s of rate units, ``x`` and ``y``."]
    lines = str.__doc__.splitlines()  # what a constant such as __version__ would show
    conf._escape_literal_suffixes(None, "data", "bioplastic.__version__", "0.1.0", {}, lines)
    assert lines == []


def test_the_build_command_is_in_the_readme_ci_and_the_docs_extra():
    command = "sphinx-build -W -b html docs docs/_build/html"
    assert command in (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "sphinx-build -W" in ci and '".[test,docs]"' in ci
    setup = (ROOT / "setup.cfg").read_text()
    extra = setup.split("docs =\n", 1)[1].split("\n\n")[0].split("dev =")[0]
    for package in ("sphinx", "numpydoc", "myst-nb"):
        assert f"    {package}>=" in extra
