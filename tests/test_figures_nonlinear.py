"""Quick modes of the SARCOS and MNIST figures (Figs 4, 5, S3, S4): they run, write their files and show the effects.

Also runs benchmarks/sarcos_ensemble.py in --quick mode (timings are not asserted here).
"""

import json
import os
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import compute_without_matplotlib

from bioplastic.figures import FIGURES, available_figures, replot, run_figure

NAMES = ["fig4a", "fig4b", "fig4c", "fig4d", "fig4e", "fig4f", "fig5a", "fig5b", "fig5c", "figS3", "figS4"]
BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _needs_data():
    if not os.environ.get("BIOPLASTIC_DATA_DIR"):
        pytest.skip("BIOPLASTIC_DATA_DIR not set: the SARCOS and MNIST figures need the real data")


def test_figures_are_registered():
    names = available_figures()
    for name in NAMES:
        assert name in names and callable(FIGURES[name])
        assert FIGURES[name].__doc__ and "quick:" in FIGURES[name].__doc__


def _check_fig4a(s):
    assert -0.65 < s["np_layer1_slope"] < -0.3  # ~ width^-1/2 (measured -0.46)
    assert abs(s["np_layer2_slope"]) < 0.15  # readout: flat (measured -0.04)
    assert abs(s["reinforce_layer1_slope"]) < 0.1  # measured -0.02
    assert all(r > n for r, n in zip(s["reinforce_cosine_layer1"], s["np_cosine_layer1"], strict=True))


def _check_fig4b(s):
    assert s["np_min_test_error"] < 0.2 * s["initial_test_error"]
    assert s["sgd_best_final_test_error"] < s["reinforce_best_final_test_error"] < s["np_best_final_test_error"]


def _check_fig4c(s):
    t_min, t_back = np.array(s["epochs_to_min"]), np.array(s["epochs_back_to_initial"], dtype=float)
    assert np.all(np.diff(t_min) <= 0)  # larger rates peak sooner ...
    assert np.isinf(t_back[0]) and np.all(np.isfinite(t_back[-3:]))  # ... and only large rates blow up
    assert np.all(np.diff(t_back[np.isfinite(t_back)]) <= 0)
    assert s["diverged_fraction"][0] == 0 and s["diverged_fraction"][-1] == 1


def _check_fig4d(s):
    assert s["np_lr0.0003_seed0_diverged_epoch"] > 0 and s["np_lr0.0001_seed0_diverged_epoch"] == -1
    assert s["np_lr0.0003_seed0_norm_growth"] > 1.3  # the weight norm expanded before the blow-up


def _check_fig4e(s):
    assert s["all_settled"]
    for np_ratio, rf_ratio in zip(s["np_over_sgd"], s["reinforce_over_sgd"], strict=True):
        assert np_ratio >= 4  # measured ~8 at quick size
        assert rf_ratio < np_ratio


def _check_fig4f(s):
    assert s["none_diverged_fraction"] == 1.0  # plain NP blows up at this rate ...
    assert s["all_diverged_fraction"] == 0.0  # ... synaptic scaling of every layer prevents it
    assert s["all_final_test_error"] < s["none_min_test_error"]


def _check_fig5a(s):
    assert s["sgd_final_test_accuracy"] > s["np_final_test_accuracy"] > 0.5
    assert s["reinforce_final_test_accuracy"] > 0.5


def _check_fig5b(s):
    assert s["all_settled"]
    assert all(np.isfinite(t) for t in s["np_time"] + s["sgd_time"] + s["reinforce_time"])
    assert all(n > g for n, g in zip(s["np_time"], s["sgd_time"], strict=True))


def _check_fig5c(s):
    assert s["all_settled"]
    assert all(np.isfinite(t) for t in s["none_time"] + s["first_time"] + s["all_time"])


def _check_pr(s, width=100):
    for label in ("init", "np", "sgd"):
        assert all(1 <= v <= width for v in s[f"{label}_participation_ratio"])
    assert 0.8 * s["np_test_error"] <= s["sgd_test_error"] <= s["np_test_error"]  # compared at a similar error
    assert s["np_test_error"] < s["init_test_error"]


CHECKS = {"fig4a": _check_fig4a, "fig4b": _check_fig4b, "fig4c": _check_fig4c, "fig4d": _check_fig4d, "fig4e": _check_fig4e,
          "fig4f": _check_fig4f, "fig5a": _check_fig5a, "fig5b": _check_fig5b, "fig5c": _check_fig5c, "figS3": _check_pr,
          "figS4": _check_pr}


@pytest.mark.parametrize("name", NAMES)
def test_quick_figure(name, tmp_path):
    _needs_data()
    summary = run_figure(name, quick=True, out_dir=tmp_path, progress=False)
    png = tmp_path / f"{name}.png"
    assert Path(summary["png"]) == png and png.stat().st_size > 1000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    meta = json.loads((tmp_path / f"{name}_results.json").read_text())
    assert meta["figure"] == name and meta["quick"] is True and "task" in json.dumps(meta["config"])
    assert (tmp_path / f"{name}_results.npz").exists()
    CHECKS[name](summary)
    # drawn again from the saved results alone: the same figure
    fig = replot(name, tmp_path / f"{name}_results", png=tmp_path / "replotted.png")
    assert fig.get_suptitle().startswith("Hiratani et al. 2022, Fig. ")  # the study and the panel
    assert (tmp_path / "replotted.png").read_bytes() == png.read_bytes()


def test_compute_does_not_import_matplotlib(tmp_path):
    _needs_data()
    report = compute_without_matplotlib("bioplastic.figures.hiratani2022.sarcos", "compute_fig4a", timeout=120)
    assert report["arrays"] == ["mean", "rules", "sem", "widths"] and report["quick"] is True
    _check_fig4a(report["summary"])


def test_figures_resume_from_checkpoints(tmp_path):
    _needs_data()
    first = run_figure("fig4d", quick=True, out_dir=tmp_path, progress=False)
    checkpoints = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert "fig4d_np.json" in checkpoints and "fig4d_sgd.npz" in checkpoints
    assert (tmp_path / "fig4d_np.npz").exists()  # the run's History
    stamp = (tmp_path / "checkpoints" / "fig4d_np.npz").stat().st_mtime_ns
    again = run_figure("fig4d", quick=True, out_dir=tmp_path, progress=False)
    assert again == first
    # resumed from the finished checkpoint: nothing was trained (or saved) again
    assert (tmp_path / "checkpoints" / "fig4d_np.npz").stat().st_mtime_ns == stamp


def test_full_mode_falls_back_to_the_test_file_with_a_warning():
    _needs_data()
    from bioplastic.figures.hiratani2022.nonlinear_setup import sarcos_task

    data = Path(os.environ["BIOPLASTIC_DATA_DIR"])
    if (data / "sarcos" / "sarcos_inv.mat").exists() or (data / "sarcos_inv.mat").exists():
        pytest.skip("the SARCOS training file is available: no fallback to test")
    with pytest.warns(UserWarning, match="falling back to split='test_file_only'"):
        task = sarcos_task(False)
    assert task.split == "test_file_only"


def test_sarcos_ensemble_benchmark_quick(monkeypatch, capsys):
    monkeypatch.delenv("BIOPLASTIC_DATA_DIR", raising=False)  # the random SARCOS-shaped data
    monkeypatch.setattr(sys, "argv", ["sarcos_ensemble.py", "--quick"])
    runpy.run_path(str(BENCHMARKS / "sarcos_ensemble.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "ratio solo/ensemble" in out and "largest relative difference of test errors, ensemble vs solo: 0.00e+00" in out


def test_record_curves_average_members_per_learning_rate():
    from matplotlib.figure import Figure

    from bioplastic.plotting import plot_record_curves

    ax = Figure().subplots()
    values = np.array([[4.0, 2.0, 1.0], [6.0, np.inf, 3.0], [1.0, 1.0, 1.0]])  # member 1 diverged at the second record
    plot_record_curves([0, 1, 2], values, [0.1, 0.1, 0.3], ax=ax, label="NP")
    first, second = ax.lines
    np.testing.assert_array_equal(first.get_ydata(), [5.0, 2.0, 2.0])  # the diverged value is left out of the mean
    np.testing.assert_array_equal(second.get_ydata(), [1.0, 1.0, 1.0])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["NP lr=0.1", "NP lr=0.3"]
    assert len(ax.collections) == 1  # a min-max band only where there are several seeds
    with pytest.raises(ValueError, match=r"values should have shape \(n_members, n_records\) with n_members = 2 learning rates, got \(3, 3\)"):
        plot_record_curves([0, 1, 2], values, [0.1, 0.3], ax=ax)
