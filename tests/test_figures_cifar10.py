"""Fig. S5 of Hiratani et al. 2022 and its companion on CIFAR-10 convolutional networks: registered, run, redrawn, and their effects."""

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import compute_without_matplotlib, data_dir_or_skip

import bioplastic as bp
from bioplastic.figures import FIGURES, available_figures, replot, run_figure
from bioplastic.figures.hiratani2022 import cifar10

NAMES = ["figS5", "figS5_rules"]


def test_figures_are_registered_with_their_modes():
    names = available_figures()
    for name in NAMES:
        assert name in names and FIGURES[name].__module__ == "bioplastic.figures.hiratani2022.cifar10"
        assert "quick:" in FIGURES[name].__doc__ and "full:" in FIGURES[name].__doc__


def test_danp_decorrelates_the_readout_input_only():
    net = cifar10.cifar10_net(True, decorrelation=bp.LateralDecorrelation(**cifar10.DANP_DECORRELATION))
    assert net.decorrelation.layers == (2,) and net.sizes == cifar10.cifar10_net(True).sizes
    state = net.init_state([0])
    assert [r is not None for r in state.lateral] == [False, False, True] and state.lateral[2].shape == (1, 400, 400)


def test_the_networks_of_the_quick_and_full_modes():
    quick, full = cifar10.cifar10_net(True), cifar10.cifar10_net(False)
    # quick: 32 -> 28 (5x5) -> 14 (pool) x 8 channels, 14 -> 10 -> 5 x 16 channels; full: padding 2 keeps 32, then pools
    assert quick.sizes == (3072, 8 * 14 * 14, 16 * 5 * 5, 10) and full.sizes == (3072, 32 * 16 * 16, 64 * 8 * 8, 10)
    assert [p.kind for p in quick.projections] == ["conv", "conv", "dense"]
    assert quick.populations[-1].activation_.name == "softmax"
    for quick_mode in (True, False):
        cfg = cifar10.settings(quick_mode)
        assert set(cfg["n_epochs"]) == set(cfg["learning_rates"]) == set(cifar10.CONDITIONS) | set(cifar10.RULES)
    assert cifar10.settings(True)["n_train"] == 1000 and cifar10.settings(True)["n_test"] == 500


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory):
    """Both figures' quick modes, run once into one folder."""
    data_dir_or_skip()
    out = tmp_path_factory.mktemp("figS5")
    return out, {name: run_figure(name, quick=True, out_dir=out, progress=False) for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_quick_figure_writes_results_and_png_and_redraws_identically(name, quick_runs, tmp_path):
    out, summaries = quick_runs
    png = out / f"{name}.png"
    assert Path(summaries[name]["png"]) == png and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    meta = json.loads((out / f"{name}_results.json").read_text())
    assert meta["figure"] == name and meta["quick"] is True
    task = meta["config"]["task"]
    assert (task["name"], task["n_train"], task["n_test"], task["augment"]) == ("cifar10", 1000, 500, False)
    assert task["provenance"] == "lossy_subset" and "lossy" in task["data"]  # the offline subset says what it is
    if name == "figS5":
        optimisers = meta["config"]["optimisers"]
        assert optimisers["np_wd"] == {"name": "sgd", "weight_decay": 1.0} and optimisers["np"] == {"name": "sgd"}
    fig = replot(name, out / f"{name}_results", png=tmp_path / "again.png")
    assert fig.get_suptitle().startswith("Hiratani et al. 2022, Fig. S5")
    assert "offline JPEG-lossy subset" in fig.get_suptitle()
    assert (tmp_path / "again.png").read_bytes() == png.read_bytes()  # drawn from the saved results alone
    for ax in fig.axes:
        for label in (ax.get_xlabel(), ax.get_ylabel()):
            assert label.endswith(")"), f"{name}: axis label {label!r} has no unit"


def test_quick_figS5_sgd_learns_and_regularisation_bounds_nps_weight_norm(quick_runs):
    _, summaries = quick_runs
    s = summaries["figS5"]
    # 250 SGD steps on 1,000 images: test accuracy 0.296 measured, well above chance (0.1) and every NP condition's
    assert s["sgd_final_test_accuracy"] > 0.24 and s["sgd_final_test_accuracy"] > cifar10.CHANCE
    for label in ("np", "np_wd", "np_scaling"):
        assert s[f"{label}_final_test_accuracy"] < min(0.5, s["sgd_final_test_accuracy"] - 0.1), label
        assert s[f"{label}_diverged_fraction"] == 0.0
    # NP alone: the norm expands from 5.85 to 17.2 (x2.94, measured); with weight decay lambda = 1 to 6.66 (x1.14)
    assert s["np_weight_norm_growth"] > 2.0
    assert s["np_wd_weight_norm_growth"] < 1.5
    assert s["np_wd_final_weight_norm"] < 0.6 * s["np_final_weight_norm"]
    # synaptic scaling holds every kernel's and neuron's RMS: the norm stays at its start (float32)
    assert s["np_scaling_final_weight_norm"] == pytest.approx(s["np_scaling_initial_weight_norm"], rel=1e-5)
    # every condition starts from the same weights (seed 0)
    assert len({s[f"{label}_initial_weight_norm"] for label in cifar10.CONDITIONS}) == 1


def test_quick_companion_backprop_ahead_of_feedback_alignment_ahead_of_chance(quick_runs):
    _, summaries = quick_runs
    s = summaries["figS5_rules"]
    # 250 Adam steps at 1e-3, measured: BP 0.366, SA 0.348, FA 0.286, ANP 0.200, DANP 0.192 (0.128 before training)
    assert s["bp_final_test_accuracy"] > 0.3
    assert s["bp_final_test_accuracy"] > s["fa_final_test_accuracy"] > s["anp_final_test_accuracy"] > cifar10.CHANCE
    assert s["fa_final_test_accuracy"] > 0.2
    assert s["sa_final_test_accuracy"] > s["fa_final_test_accuracy"]  # sign-symmetric feedback kernels carry more of the gradient
    assert s["danp_final_test_accuracy"] > 0.15


def test_compute_does_not_import_matplotlib(quick_runs):
    out, summaries = quick_runs
    # the checkpoints of the quick runs are read back: the same numbers without training again
    report = compute_without_matplotlib("bioplastic.figures.hiratani2022.cifar10", "compute_figS5", out_dir=out)
    assert report["quick"] is True and "np_wd_norm" in report["arrays"] and "sgd_test_accuracy" in report["arrays"]
    expected = {k: v for k, v in summaries["figS5"].items() if k not in ("png", "results")}
    assert report["summary"] == json.loads(json.dumps(expected))
    assert np.isfinite(report["summary"]["np_final_weight_norm"])
