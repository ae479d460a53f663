"""Benchmarks stay runnable: each runs in --quick mode (timing targets are not asserted here)."""

import ast
import re
import runpy
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import bioplastic

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


NP_VARIANTS = ("BP", "DBP", "NP", "DNP", "INP", "DINP", "ANP", "DANP")


def test_np_variants_quick(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["np_variants.py", "--quick"])
    runpy.run_path(str(BENCHMARKS / "np_variants.py"), run_name="__main__")
    lines = capsys.readouterr().out.strip().splitlines()
    assert any(re.search(r"BLAS: \S+ .*kernels, \d+ thread\(s\)", line) for line in lines)
    for label in NP_VARIANTS:  # GEMMs, GFLOP/step, floor ms, epoch ms, epoch/BP, epoch/floor
        assert any(re.fullmatch(rf"{label} +\d+ +\d+\.\d\d +\d+\.\d +\d+\.\d +\d+\.\d\dx +\d+\.\d\dx", line) for line in lines), label
    for label in ("ANP", "DANP"):
        assert any(re.fullmatch(rf"goal {label}/floor <= 2\.0x \(decorrelation included\): \d+\.\d\dx  (PASS|MISS)", line) for line in lines)
    for iterative, plain in (("INP", "NP"), ("DINP", "DNP")):
        assert any(re.fullmatch(rf"goal {iterative} extra passes cost their matrix products: \({iterative}/floor\) / \({plain}/floor\) = "
                                rf"\d+\.\d\d / \d+\.\d\d = \d+\.\d\d <= 1\.25  (PASS|MISS)", line) for line in lines), iterative
    assert re.fullmatch(r"ratio DANP/floor: +\d+\.\d\d   \(goal <= 2\.0\)", lines[-1])  # the main ratio last


def _products_of_a_step(engine, x, target, scale, monkeypatch):
    """``(stack shape, (m, k, n, layout))`` of every ``np.matmul`` of one engine step, and the package files the step ran.

    The step before (the first) allocates the scratch arrays. ``layout`` is
    ``"N"`` (C order) or ``"T"`` (a transposed view, as BLAS reads it) for
    each operand, or ``"gram"`` when the first operand is the second
    transposed (one array: numpy's SYRK path); other numpy products fail the step.
    """
    matmul, calls, files = np.matmul, [], set()

    def layout(a):  # "copy": neither C order nor a transposed view
        return "N" if a.strides[-1] == a.itemsize else "T" if a.strides[-2] == a.itemsize else "copy"

    def layouts(a, b):
        same = a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
        if same and a.shape[-2:] == b.shape[-2:][::-1] and a.strides[-2:] == b.strides[-2:][::-1]:
            return "gram"
        return layout(a) + layout(b)

    def counting(a, b, *args, **kwargs):
        calls.append((np.broadcast_shapes(a.shape[:-2], b.shape[:-2]), (a.shape[-2], a.shape[-1], b.shape[-1], layouts(a, b))))
        return matmul(a, b, *args, **kwargs)

    def forbidden(name):
        def call(*args, **kwargs):
            raise AssertionError(f"the step called np.{name}, which the floor does not count")
        return call

    def profile(frame, event, arg):
        if event == "call":
            files.add(frame.f_code.co_filename)

    engine.start_epoch(2)
    with engine.running():
        engine.step(x, target, scale)
        with monkeypatch.context() as patch:
            patch.setattr(np, "matmul", counting)
            for name in ("dot", "tensordot", "inner", "vdot"):
                patch.setattr(np, name, forbidden(name))
            sys.setprofile(profile)
            try:
                engine.step(x, target, scale)
            finally:
                sys.setprofile(None)
    package = Path(bioplastic.__file__).resolve().parent
    return calls, sorted(p for p in map(Path, files) if p.suffix == ".py" and package in p.resolve().parents)


def _assert_no_matmul_operator(paths):
    """No product escapes the count as the ``@`` operator in the package code a step ran."""
    for path in paths:
        matmul_ops = [node.lineno for node in ast.walk(ast.parse(path.read_text()))
                      if isinstance(node, (ast.BinOp, ast.AugAssign)) and isinstance(node.op, ast.MatMult)]
        assert not matmul_ops, (path, matmul_ops)


@pytest.mark.parametrize("batch", [24, 5])  # batch >= every width (the benchmark's network), and below them
@pytest.mark.parametrize("label", NP_VARIANTS)
def test_np_variants_floor_lists_the_products_of_a_step(label, batch, monkeypatch):
    """The floor's GEMMs are exactly the matrix products an engine step makes (counted by wrapping np.matmul)."""
    bench = runpy.run_path(str(BENCHMARKS / "np_variants.py"))  # not __main__: the definitions only
    sizes = (20, 9, 8, 7, 3)  # distinct, non-increasing widths (> 1): each product's shape says which it is
    engine = bench["make_engine"](label, sizes, batch)
    rng = np.random.default_rng(1)
    x = rng.random((batch, sizes[0]), dtype=np.float32)
    target = np.eye(sizes[-1], dtype=np.float32)[rng.integers(0, sizes[-1], batch)]
    calls, ran = _products_of_a_step(engine, x, target, np.array([1e-3], dtype=np.float32), monkeypatch)
    assert all(stack in ((), (1,)) for stack, _ in calls)  # one member: one product per call
    assert Counter(shape for _, shape in calls) == bench["gemm_counts"](label, sizes, batch)
    assert any(p.name == "passes.py" for p in ran)
    _assert_no_matmul_operator(ran)


def test_sweep_scaling_quick(monkeypatch, capsys):
    pytest.importorskip("distributed")
    monkeypatch.setattr(sys, "argv", ["sweep_scaling.py", "--quick"])
    runpy.run_path(str(BENCHMARKS / "sweep_scaling.py"), run_name="__main__")
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("sweep: 4 tasks of 1 member(s)")
    assert any(re.fullmatch(r"serial, in this process: +\d+\.\d{3} s  \( *\d+\.\d ms per task\)", line) for line in lines)
    assert any(re.fullmatch(r"LocalCluster, 2 workers: +\d+\.\d{3} s  \(start-up \d+\.\d\d s, not counted\)", line) for line in lines)
    assert "results identical: yes" in lines
    assert any(re.fullmatch(r"scheduling overhead per task: \d+\.\d\d ms \(no-op round trip\), -?\d+\.\d ms of CPU lost .*", line) for line in lines)
    assert re.fullmatch(r"sweep speed-up = \d+\.\d\d", lines[-1])  # the main ratio last


def test_conv_step_quick(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["conv_step.py", "--quick"])
    runpy.run_path(str(BENCHMARKS / "conv_step.py"), run_name="__main__")
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("CNN 3x8x8 (conv 32 5x5 pad 2 pool 2, conv 64 5x5 pad 2 pool 2, readout 10 softmax")
    assert any(re.search(r"BLAS: \S+ .*kernels, \d+ thread\(s\)", line) for line in lines)
    for label in ("SGD", "NP"):  # GEMMs, GFLOP/step, floor ms, step ms, step/floor
        assert any(re.fullmatch(rf"{label} +\d+ +\d+\.\d\d +\d+\.\d +\d+\.\d +\d+\.\d\dx", line) for line in lines), label
    assert any(line == "PyTorch: not installed (import torch failed), its CPU convolutions not timed"
               or re.match(r"PyTorch \S+ CPU convolutions \(\d+ thread\(s\)\): SGD \d+\.\d ms/step", line) for line in lines)
    assert any(re.fullmatch(r"goal SGD/floor <= 1\.5x: \d+\.\d\dx  (PASS|MISS)", line) for line in lines)
    assert any(re.fullmatch(r"goal NP/floor <= 2\.0x: \d+\.\d\dx  (PASS|MISS)", line) for line in lines)
    assert re.fullmatch(r"ratio SGD/floor: +\d+\.\d\d   \(goal <= 1\.5\)", lines[-2])
    assert re.fullmatch(r"ratio NP/floor: +\d+\.\d\d   \(goal <= 2\.0\)", lines[-1])  # the main ratio last


@pytest.mark.parametrize("label", ["SGD", "NP"])
def test_conv_step_floor_lists_the_products_of_a_step(label, monkeypatch):
    """The floor's GEMMs are exactly the matrix products an engine step of the CNN makes, blocks of samples included."""
    bench = runpy.run_path(str(BENCHMARKS / "conv_step.py"))  # not __main__: the definitions only
    # blocks of 2 samples' patches in the first convolution (1, 2, 2 of 5 samples), of 1 in the second: blocks of two sizes
    monkeypatch.setattr(bioplastic.ops.convolution, "BLOCK_BYTES", 40_000)
    in_shape, batch = (3, 8, 8), 5
    engine = bench["make_engine"](label, in_shape, batch)
    rng = np.random.default_rng(1)
    x = rng.random((batch, int(np.prod(in_shape))), dtype=np.float32)
    target = np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch)]
    calls, ran = _products_of_a_step(engine, x, target, np.array([1e-3], dtype=np.float32), monkeypatch)
    assert all(stack in ((), (1,)) for stack, _ in calls)  # one member: one product per call
    expected = bench["gemm_counts"](label, in_shape, batch)
    assert Counter(shape for _, shape in calls) == expected
    assert (32, 75, 64, "NN") in expected and (32, 75, 128, "NN") in expected  # the first convolution's two block sizes
    # forward 3 + 5 blocks + readout; SGD's backward (readout, 5 blocks) or NP's propagated change (5 blocks, readout); updates
    assert sum(expected.values()) == (3 + 5 + 1) + (1 + 5) + (3 + 5 + 1)
    assert any(p.name == "convolution.py" for p in ran)
    _assert_no_matmul_operator(ran)


def test_identify_generate_quick(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["identify_generate.py", "--quick"])
    runpy.run_path(str(BENCHMARKS / "identify_generate.py"), run_name="__main__")
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("design: 16 runs (2 rule classes x 2 architectures x 1 batch size(s) x 2 learning rates x 2 seeds)")
    assert any(re.fullmatch(r"in ensembles \(4 tasks\): +\d+\.\d{3} s  \( *\d+\.\d runs/s\)", line) for line in lines)
    assert any(re.fullmatch(r"one at a time \(16 tasks\): +\d+\.\d{3} s  \( *\d+\.\d runs/s\)", line) for line in lines)
    assert any(re.match(r"same rows: yes; largest relative difference of the values, ensemble vs one at a time: \d\.\de[+-]\d\d", line)
               for line in lines)
    assert re.fullmatch(r"ratio one-at-a-time/ensemble = \d+\.\d\d", lines[-1])  # the main ratio last
