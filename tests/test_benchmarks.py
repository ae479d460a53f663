"""Benchmarks stay runnable: each runs in --quick mode (timing targets are not asserted here)."""

import runpy
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.mark.parametrize("name", ["np_step.py", "sarcos_ensemble.py"])
def test_benchmark_quick(name, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [name, "--quick"])
    runpy.run_path(str(BENCHMARKS / name), run_name="__main__")
    assert "ratio" in capsys.readouterr().out
