"""The command line: demo, run CONFIG.toml, figure, --help."""

import subprocess
import sys

import numpy as np

import bioplastic as bp
from bioplastic.cli import main

CONFIG = """
[network]
sizes = [20, 16, 5]
hidden = "tanh"

[task]
name = "student_teacher"
n_train = 200
n_test = 50

[rule]
name = "node_perturbation"
sigma = 1e-3

[homeostasis]
layers = [0]

[training]
n_epochs = 3
learning_rate = [0.01, 0.03]
seeds = [0, 1]
batch_size = 10
"""


def test_help_lists_commands():
    out = subprocess.run([sys.executable, "-m", "bioplastic.cli", "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("demo", "run", "figure"):
        assert command in out


def test_demo_quick(tmp_path, capsys):
    assert main(["demo", "--quick", "--no-progress", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "NP" in out and "SGD" in out and "epochs to target" in out
    assert (tmp_path / "demo.png").stat().st_size > 10_000
    np_hist = bp.History.load(tmp_path / "demo_np")
    sgd_hist = bp.History.load(tmp_path / "demo_sgd")
    # both rules learn; SGD ends lower than NP
    assert np.nanmin(np_hist.final()) < 0.2 * np_hist.records["test_error"][0, 0]
    assert np.nanmin(sgd_hist.final()) < np.nanmin(np_hist.final())


def test_run_config(tmp_path, capsys):
    cfg = tmp_path / "exp.toml"
    cfg.write_text(CONFIG)
    assert main(["run", str(cfg), "--out", str(tmp_path / "res"), "--no-progress"]) == 0
    hist = bp.History.load(tmp_path / "res" / "exp")
    assert hist.n_members == 4 and hist.epochs[-1] == 3
    assert hist.config["homeostasis"]["layers"] == [0]
    assert (tmp_path / "res" / "exp.png").exists()
    assert "test_error" in capsys.readouterr().out


def test_run_bad_config_reports_error(tmp_path, capsys):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(CONFIG.replace("sigma = 1e-3", "sigma = -1.0"))
    assert main(["run", str(cfg), "--out", str(tmp_path)]) == 2
    assert "sigma must be > 0, got -1.0" in capsys.readouterr().err


def test_figure_list_and_unknown(capsys):
    assert main(["figure", "--list"]) == 0
    capsys.readouterr()
    assert main(["figure", "no_such_figure"]) == 2
    assert "unknown figure 'no_such_figure'" in capsys.readouterr().err
