"""Quick runs of the linear-network figures (Figs 1-3, S1, S2b): files, what each must show, compute apart from drawing."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import compute_without_matplotlib

from bioplastic import History
from bioplastic.figures import FIGURES, FigureResults, available_figures, replot, run_figure
from bioplastic.figures.hiratani2022.linear_setup import crossing_steps, trajectory_deviation
from bioplastic.io import load_arrays_and_metadata

LINEAR = ("fig1a", "fig1b", "fig1c", "fig2a", "fig2b", "fig3a", "fig3b", "fig3c", "fig3d", "figS1", "figS2b")


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("linear_figures")
    return out, {name: run_figure(name, quick=True, out_dir=out, progress=False) for name in LINEAR}


def test_all_linear_figures_are_registered():
    assert set(LINEAR) <= set(available_figures())


def test_each_figure_writes_data_and_png(quick_runs):
    out, summaries = quick_runs
    for name in LINEAR:
        png = out / f"{name}.png"
        assert png.stat().st_size > 10_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        arrays, meta = load_arrays_and_metadata(out / f"{name}_results")
        assert meta["figure"] == name and arrays
        assert json.loads(json.dumps(meta["summary"])) == json.loads(json.dumps(summaries[name], default=float))
        runs = sorted(out.glob(f"{name}_sim*.json")) + sorted(out.glob("fig2_sim*.json"))
        assert runs, f"{name} saved no simulation"
        history = History.load(runs[0].with_suffix(""))
        assert history.records["error"].shape[0] == len(history.learning_rates)


def test_fig1a_follows_eq12_at_half_critical_rate_and_diverges_at_twice(quick_runs):
    summary = quick_runs[1]["fig1a"]
    # quick sizes (Lx=50, Lh=1e6, Ly=5): within a factor e^0.5 = 1.65 of Eq. 12 down to 1 % of the start
    assert summary["deviation_two_variable_0.5"] < 0.5
    assert summary["deviation_mean_field_0.5"] < 0.3
    assert summary["diverged_fraction_0.5"] == 0.0
    assert summary["diverged_fraction_2"] == 1.0


def test_fig1b_weight_norm_grows_as_predicted(quick_runs):
    summary = quick_runs[1]["fig1b"]
    assert summary["deviation_a_0.5"] < 0.25
    # weight diffusion: a grows, and faster at larger learning rates
    assert 3 < summary["a_growth_0.5"] < summary["a_growth_1"]


def test_fig1c_large_initial_weights_lower_the_critical_rate(quick_runs):
    summary = quick_runs[1]["fig1c"]
    assert summary["critical_over_eta_g4"] < summary["critical_over_eta_g1"] < summary["critical_over_eta_g0.25"]
    assert summary["diverged_fraction_g1"] == 0.0 and summary["final_error_g1"] < 1e-4


def test_fig2_scaling_exponents(quick_runs):
    a, b = quick_runs[1]["fig2a"], quick_runs[1]["fig2b"]
    # minimum training time nearly flat in Lh over two decades (10^3 - 10^5), about linear in Ly
    assert abs(a["slope_tmin_vs_Lh"]) < 0.25
    assert 0.6 < a["slope_tmin_vs_Ly"] < 1.2
    # optimal learning rate ~ Lh^(-1/3)
    assert -0.45 < b["slope_eta_vs_Lh"] < -0.22
    assert b["slope_eta_vs_Lh"] == a["slope_eta_vs_Lh"]  # the study is shared (cached)


def test_fig3a_turning_points_match_the_nullcline_theory(quick_runs):
    summary = quick_runs[1]["fig3a"]
    for ratio in ("0.5", "1", "1.4"):
        sim, th = summary[f"min_error_sim_{ratio}"], summary[f"min_error_theory_{ratio}"]
        assert th / 1.6 < sim < 1.6 * th
        assert summary[f"a_at_min_sim_{ratio}"] == pytest.approx(summary[f"a_at_min_theory_{ratio}"], rel=0.3)


def test_fig3b_error_turns_up_sooner_at_larger_rates(quick_runs):
    summary = quick_runs[1]["fig3b"]
    turning = [summary[f"turning_sim_{r}"] for r in ("0.7", "1", "1.4", "2")]
    assert all(a > b for a, b in zip(turning, turning[1:], strict=False))
    for r in ("0.7", "1"):
        assert 0.5 < summary[f"turning_sim_{r}"] / summary[f"turning_theory_{r}"] < 1.5
        assert 0.5 < summary[f"return_sim_{r}"] / summary[f"return_theory_{r}"] < 1.5


def test_fig3c_np_rises_sgd_is_stable(quick_runs):
    summary = quick_runs[1]["fig3c"]
    assert summary["rise_np_1"] > 3
    for r in ("0.5", "1"):
        assert summary[f"diverged_fraction_sgd_{r}"] == 0.0
        assert summary[f"rise_sgd_{r}"] < 1.6


def test_fig3d_scaling_stabilises_with_a_floor_growing_with_hidden_size(quick_runs):
    summary = quick_runs[1]["fig3d"]
    assert summary["diverged_fraction_plain_Lh1600"] == 1.0
    for lh in (100, 400, 1600):
        assert summary[f"diverged_fraction_scaled_Lh{lh}"] == 0.0
        assert summary[f"rise_scaled_Lh{lh}"] < 2.0
    assert summary["floor_Lh1600"] > summary["floor_Lh100"]
    assert summary["floor_slope_vs_Lh"] > 0.05


def test_figS1_mean_field_tracks_every_order_parameter(quick_runs):
    summary = quick_runs[1]["figS1"]
    assert summary["deviation_alpha_0.5"] < 0.1
    assert summary["deviation_beta_0.5"] < 0.02
    assert summary["deviation_epsilon_0.5"] < 0.3


def test_figS2b_dimensionality_starts_at_wishart_value(quick_runs):
    summary = quick_runs[1]["figS2b"]
    assert summary["initial_np"] == pytest.approx(summary["initial_expected"], rel=0.01)
    assert summary["final_np"] <= summary["initial_np"]


def test_helpers():
    steps = np.array([0, 10, 20, 40])
    errors = np.array([[1.0, 0.5, 0.1, 0.01], [1.0, 1.0, 1.0, 1.0]])
    cross = crossing_steps(steps, errors, 0.25)
    # log-linear interpolation between 0.5 (step 10) and 0.1 (step 20)
    assert cross[0] == pytest.approx(10 + 10 * np.log(2) / np.log(5))
    assert cross[1] == np.inf
    predicted = np.array([1.0, 0.5, 0.2, 0.3])
    simulated = np.array([1.0, 0.5 * np.e**0.1, 0.2, 5.0])
    # only records up to the predicted minimum count
    assert trajectory_deviation(simulated, predicted) == pytest.approx(0.1)
    assert np.isnan(trajectory_deviation(simulated, predicted, floor=0.9))


def test_command_line_runs_a_quick_figure(tmp_path, capsys):
    from bioplastic.cli import main

    assert main(["figure", "fig3c", "--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    assert (tmp_path / "fig3c.png").exists()
    assert "rise_np_1" in capsys.readouterr().out


# --------------------------------------------------------------------------
# computing apart from drawing
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name", LINEAR)
def test_replot_from_saved_results_draws_the_same_png(quick_runs, tmp_path, name):
    out, _ = quick_runs
    fig = replot(name, out / f"{name}_results.npz", png=tmp_path / f"{name}.png")
    assert fig.axes
    assert fig.get_suptitle().startswith("Hiratani et al. 2022, Fig. ")  # the study and the panel
    # drawn from the saved pair alone, the figure is the one the run drew from its fresh results
    assert (tmp_path / f"{name}.png").read_bytes() == (out / f"{name}.png").read_bytes()


def test_draw_works_from_loaded_results(quick_runs):
    from bioplastic.figures.hiratani2022.learning_dynamics import draw_fig1c

    out, _ = quick_runs
    arrays, metadata = load_arrays_and_metadata(out / "fig1c_results")
    assert isinstance(metadata["settings"]["sizes"], list)  # JSON, not the tuples of a fresh run
    fig = draw_fig1c(FigureResults(arrays, metadata))
    left, right = fig.axes
    np.testing.assert_array_equal(left.lines[0].get_ydata(), arrays["critical_rate"])
    assert left.lines[1].get_ydata()[0] == metadata["summary"]["learning_rate"]
    n_seeds = metadata["settings"]["n_seeds"]
    # per gain: the single runs, their mean, Eq. 12
    assert len(right.lines) == len(metadata["settings"]["gains"]) * (n_seeds + 2)
    mean_g1 = right.lines[(n_seeds + 2) + n_seeds]  # second gain: after its runs
    np.testing.assert_array_equal(mean_g1.get_ydata(), arrays["sim_mean_g1"][1:])
    assert [t.get_text() for t in right.get_legend().get_texts()] == ["g = 0.25", "g = 1", "g = 4"]


def test_compute_does_not_import_matplotlib(tmp_path):
    report = compute_without_matplotlib("bioplastic.figures.hiratani2022.instability", "compute_fig3c", out_dir=tmp_path, timeout=120)
    assert report["summary"]["rise_np_1"] > 3
    assert {"steps", "sim_mean_np_1", "theory_sgd_0.5", "sim_runs_sgd_1"} <= set(report["arrays"])
    assert (tmp_path / "fig3c_sim_np.json").exists() and not (tmp_path / "fig3c.png").exists()


def test_registered_figure_is_compute_then_draw(quick_runs):
    from bioplastic.figures import linear
    from bioplastic.figures.hiratani2022 import scalability

    assert FIGURES["fig2b"] is scalability.fig2b is linear.fig2b
    assert FIGURES["fig2b"].compute is scalability.compute_fig2b and FIGURES["fig2b"].draw is scalability.draw_fig2b
    # the compute step alone, from the cached study of the quick runs, gives the summary the run returned
    out, summaries = quick_runs
    results = scalability.compute_fig2b(quick=True, progress=False, out_dir=out)
    assert results.name == "fig2b" and results.summary == summaries["fig2b"]
    for name in ("compute_fig2b", "draw_fig2b"):
        assert "Parameters\n    ----------" in getattr(scalability, name).__doc__
    assert "Returns\n    -------\n    dict" in FIGURES["fig2b"].__doc__


def test_replot_rejects_the_results_of_another_figure(quick_runs):
    out, _ = quick_runs
    with pytest.raises(ValueError, match=r"holds the results of figure 'fig1b', not of 'fig1a'"):
        replot("fig1a", out / "fig1b_results")
    with pytest.raises(ValueError, match="unknown figure 'fig9z'"):
        replot("fig9z", out / "fig1b_results")
