"""The analysis package: one module per concept, every public name re-exported, no import cycle with training."""

import ast
import importlib
from pathlib import Path

import pytest

from bioplastic import analysis

PACKAGE = Path(analysis.__file__).resolve().parent.parent
MODULES = {
    "alignment": ["cosine_similarity", "mean_update_cosine_similarity", "sample_directions", "update_cosine_similarity"],
    "dimensionality": ["hidden_participation_ratio", "participation_ratio"],
    "training_times": ["instability_times", "measured_instability_times", "measured_minimum_training_time", "minimum_training_time"],
    "weights": ["weight_norm_trajectories"],
}


def test_every_name_is_reexported_from_its_module():
    exported = set()
    for module, names in MODULES.items():
        mod = importlib.import_module(f"bioplastic.analysis.{module}")
        assert sorted(mod.__all__) == names
        for name in names:
            assert getattr(analysis, name) is getattr(mod, name)
        exported.update(names)
    assert set(analysis.__all__) == exported | {"search_minimum_training_time", "train_until"}
    assert all(callable(getattr(analysis, name)) for name in analysis.__all__)


def _imports(path):
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            names.add(("." * node.level) + node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("path", sorted((PACKAGE / "training").glob("*.py")), ids=lambda p: p.name)
def test_training_never_imports_analysis(path):
    """analysis imports training (Histories, the search); the reverse would make a cycle."""
    bad = {name for name in _imports(path) if "analysis" in name.split(".")}
    assert not bad, f"training/{path.name} imports {sorted(bad)}"


def test_analysis_modules_do_not_import_each_other():
    for module in MODULES:
        bad = {name for name in _imports(PACKAGE / "analysis" / f"{module}.py") if name.startswith(".") and not name.startswith("..")}
        assert not bad, f"analysis/{module}.py imports {sorted(bad)}"
