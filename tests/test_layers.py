"""The package's layers: each imports only the layers below it (parsed from the source)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "bioplastic"

#: what simulates (the model description) -- never an engine, loop, task, figure, plot or CLI
DESCRIPTION = ["neurons.py", "synapses.py", "network.py", "neuromodulation.py", "homeostasis.py", "decorrelation.py", "optimisers.py", "losses.py",
               "plasticity"]
#: array kernels -- no description, engine, loop, task or plot either
KERNELS = ["ops"]
BASE = {"_validation", "_random", "_params", "io"}
FORBIDDEN_FOR_DESCRIPTION = {"engines", "training", "tasks", "figures", "plotting", "cli", "config", "online", "analysis", "sweeps",
                             "matplotlib", "tqdm", "brian2", "pandas"}


def _modules(entries):
    for entry in entries:
        path = PACKAGE / entry
        yield from (sorted(path.rglob("*.py")) if path.is_dir() else [path])


def _imported(path):
    """Top-level names (``bioplastic`` sub-package/module or third-party package) imported by a module."""
    tree = ast.parse(path.read_text())
    package_parts = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                names.add(parts[1] if parts[0] == "bioplastic" and len(parts) > 1 else parts[0])
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package_parts[: len(package_parts) - node.level + 1])
                parts = base + (node.module.split(".") if node.module else [])
                if len(parts) == 1:  # "from .. import x": x is the module
                    names.update(alias.name for alias in node.names)
                else:
                    names.add(parts[1])
            else:
                parts = node.module.split(".")
                names.add(parts[1] if parts[0] == "bioplastic" and len(parts) > 1 else parts[0])
    return names


@pytest.mark.parametrize("path", list(_modules(DESCRIPTION)), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_description_imports_no_engine_loop_task_plot_or_cli(path):
    bad = _imported(path) & FORBIDDEN_FOR_DESCRIPTION
    assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}"


@pytest.mark.parametrize("path", list(_modules(KERNELS)), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_kernels_import_only_numpy_and_the_base_layer(path):
    ours = {name for name in _imported(path) if (PACKAGE / name).exists() or (PACKAGE / f"{name}.py").exists()}
    assert ours <= BASE | {"ops"}, f"{path.relative_to(PACKAGE)} imports {sorted(ours - BASE - {'ops'})}"


#: the layers above sweeps (the only ones that may import it): the studies' own libraries, figures and the cli
ABOVE_SWEEPS = {"identify", "figures", "cli"}


@pytest.mark.parametrize("path", [p for p in sorted(PACKAGE.rglob("*.py"))
                                  if p.relative_to(PACKAGE).parts[0] not in {"sweeps", "identify", "figures", "cli.py"}],
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_nothing_below_sweeps_imports_them(path):
    assert "sweeps" not in _imported(path), f"{path.relative_to(PACKAGE)} imports sweeps, which only identify, figures and the cli may"


@pytest.mark.parametrize("path", sorted((PACKAGE / "sweeps").rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_sweeps_import_neither_figures_nor_the_cli_nor_dask_at_module_level(path):
    assert not _imported(path) & ABOVE_SWEEPS, f"{path.relative_to(PACKAGE)} imports {sorted(_imported(path) & ABOVE_SWEEPS)}"
    tree = ast.parse(path.read_text())
    top = {alias.name.split(".")[0] for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
           for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])}
    assert not top & {"dask", "distributed"}, f"{path.relative_to(PACKAGE)} imports Dask at import time (it is optional)"


def test_the_parser_sees_relative_and_absolute_imports(tmp_path):
    module = PACKAGE / "plasticity" / "base.py"
    assert {"_params", "_validation", "numpy"} <= _imported(module)
    assert "ops" in _imported(PACKAGE / "plasticity" / "node_perturbation.py")
