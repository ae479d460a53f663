"""Every notebook in notebooks/ executes without error (they are small by default).

Kernels run in a temporary directory. The data directory of the tests
(``BIOPLASTIC_DATA_DIR``, often relative to the directory the tests run from)
reaches them in their environment as the absolute path it names here.
"""

import os
from pathlib import Path

import pytest
from conftest import data_dir_or_skip

from bioplastic.tasks._data import ENV_VAR, resolve_data_dir

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
#: notebooks that need the real data sets (they skip without BIOPLASTIC_DATA_DIR)
NEEDS_DATA = {"03_sarcos", "04_mnist"}


def kernel_environment(overrides=None):
    """This process's environment with ``BIOPLASTIC_DATA_DIR`` made absolute, then ``overrides``."""
    env = dict(os.environ)
    if env.get(ENV_VAR):
        env[ENV_VAR] = str(resolve_data_dir(None))
    env.update(overrides or {})
    return env


def execute(nb, cwd, *, env=None):
    """Run notebook ``nb`` in place in a kernel started in ``cwd`` with :func:`kernel_environment`."""
    nbclient = pytest.importorskip("nbclient")
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(cwd)}})
    client.execute(env=kernel_environment(env))
    return nb


def _stdout(nb):
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
                   if o.output_type == "stream" and o.name == "stdout")


def test_notebooks_exist():
    names = {p.stem for p in NOTEBOOKS}
    assert "01_getting_started" in names
    assert NEEDS_DATA <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_is_committed_without_outputs(path, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{path.name} is committed with outputs"
    if path.stem in NEEDS_DATA:
        data_dir_or_skip()
    execute(nb, tmp_path)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors


def test_kernel_reads_a_relative_data_directory_as_the_tests_mean_it(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    (tmp_path / "a" / "data" / "sarcos").mkdir(parents=True)
    (tmp_path / "a" / "tests").mkdir()
    (tmp_path / "kernel").mkdir()
    monkeypatch.chdir(tmp_path / "a" / "tests")
    monkeypatch.setenv(ENV_VAR, "../data")  # from the kernel's directory it would name tmp_path / "data"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import os\nprint(os.getcwd())\nprint(os.environ['BIOPLASTIC_DATA_DIR'])\n"
        "print(os.path.isdir(os.path.join(os.environ['BIOPLASTIC_DATA_DIR'], 'sarcos')))"
    )])
    execute(nb, tmp_path / "kernel")
    assert _stdout(nb).split("\n") == [str(tmp_path / "kernel"), str(tmp_path / "a" / "data"), "True", ""]


def _sarcos_section_of_notebook_05():
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(NOTEBOOKS[[p.stem for p in NOTEBOOKS].index("05_brian2_engine")], as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    nb.cells = [code[0]] + [c for c in code if "load_sarcos(" in c.source]  # the imports and the SARCOS cell
    assert len(nb.cells) == 2
    return nb


@pytest.mark.parametrize("require", ["1", "0"])
def test_notebook_without_its_data_fails_only_when_data_is_required(require, tmp_path):
    nbclient = pytest.importorskip("nbclient")
    nb = _sarcos_section_of_notebook_05()
    env = {ENV_VAR: str(tmp_path / "empty"), "BIOPLASTIC_REQUIRE_DATA": require}
    if require == "1":
        with pytest.raises(nbclient.exceptions.CellExecutionError, match="FileNotFoundError"):
            execute(nb, tmp_path, env=env)
    else:
        execute(nb, tmp_path, env=env)
        assert "SARCOS data not available offline, skipping: Data file 'sarcos_inv_test.mat'" in _stdout(nb)
