"""Benchmarks stay runnable: each runs in --quick mode (timing targets are not asserted here)."""

import re
import runpy
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.mark.parametrize("name", ["np_step.py", "sarcos_ensemble.py"])
def test_benchmark_quick(name, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [name, "--quick"])
    runpy.run_path(str(BENCHMARKS / name), run_name="__main__")
    out = capsys.readouterr().out
    assert "ratio" in out
    assert re.search(r"BLAS: \S+ .*kernels, \d+ thread\(s\)", out)  # the BLAS and its kernels (shared helper)


def test_contention_quick(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["contention.py", "--quick"])
    runpy.run_path(str(BENCHMARKS / "contention.py"), run_name="__main__")
    lines = capsys.readouterr().out.strip().splitlines()
    for network in ("784-100-10", "784-300-10"):
        for setting in ("default", "OPENBLAS_NUM_THREADS=1"):
            assert any(line.startswith(network) and f" {setting} " in line and line.endswith("x") for line in lines), (network, setting)
    assert re.fullmatch(r"contention slowdown = \d+\.\d\d", lines[-1])


def test_contention_busy_process_is_stopped_on_errors():
    bench = runpy.run_path(str(BENCHMARKS / "contention.py"))  # not __main__: the definitions only
    busy = bench["busy_process"](30)
    with pytest.raises(KeyboardInterrupt):
        with busy:
            assert busy.proc.poll() is None  # running
            raise KeyboardInterrupt
    assert busy.proc.poll() is not None  # stopped, not left behind


def test_feedback_rules_quick(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["feedback_rules.py", "--quick"])
    runpy.run_path(str(BENCHMARKS / "feedback_rules.py"), run_name="__main__")
    lines = capsys.readouterr().out.strip().splitlines()
    for label in ("SGD", "FA", "SA", "IA"):
        assert any(re.match(rf"{label} epoch: +\d+\.\d ms", line) for line in lines), label
    assert any(re.fullmatch(r"ratio SA/SGD: +\d+\.\d\d   \(goal <= 1\.6\)", line) for line in lines)
    assert re.fullmatch(r"ratio FA/SGD: +\d+\.\d\d   \(goal <= 1\.1\)", lines[-1])  # the main goal last
