"""Quick modes of the Nayebi et al. (2020) figures: registered, one shared data set, identification far above chance, controls at chance.

The quick data set (128 runs of eight rule classes on a student-teacher
task, six measurement conditions) is generated once, by the first figure,
into the module's folder; the other figures read it back. Where a test
states a measured figure, it is that of the quick run with its seeds.
"""

import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import compute_without_matplotlib, data_dir_or_skip

pytest.importorskip("sklearn", reason="rule identification needs scikit-learn: pip install 'bioplastic[identify]'")

import bioplastic.training  # noqa: E402
from bioplastic.figures import FIGURES, available_figures, distributed_figures, figures_by_study, replot, run_figure  # noqa: E402
from bioplastic.figures.nayebi2020 import CITATION, STUDY, shared  # noqa: E402
from bioplastic.sweeps import result_path  # noqa: E402

NAMES = ["identify_neuromodulated", "identify_rules", "identify_transfer"]
#: the order the fixture runs them in: the first one generates the data set
ORDER = ["identify_rules", "identify_transfer", "identify_neuromodulated"]


def binomial_band(chance, n):
    """Three binomial standard deviations of an accuracy over ``n`` test predictions at ``chance``."""
    return 3 * math.sqrt(chance * (1 - chance) / n)


def test_figures_are_registered_with_their_modes_and_distribute_their_runs():
    names = available_figures()
    for name in NAMES:
        assert name in names and callable(FIGURES[name])
        assert FIGURES[name].__module__.startswith("bioplastic.figures.nayebi2020.")
        assert "quick:" in FIGURES[name].__doc__ and "full:" in FIGURES[name].__doc__
    assert set(NAMES) <= set(distributed_figures())
    (study,) = [group for group in figures_by_study() if group[0] == STUDY]
    assert study == ("Nayebi et al. 2020", CITATION, NAMES)
    assert "NeurIPS 2020" in CITATION and "neuroailab/lr-identify" in CITATION


def test_the_quick_design_varies_seeds_not_batch_sizes_and_covers_subsampling_and_noise():
    design = shared.design(quick=True)
    assert design.n_runs == 8 * 2 * 2 * 4 == 128 and len(design.tasks) == 16  # classes x architectures x learning rates x seeds
    assert all(t.n_members == 8 for t in design.tasks)
    assert design.batch_sizes == [10] and design.seeds == [0, 1, 2, 3] and design.n_time_points == 11 and design.n_epochs == 10
    assert list(design.architectures) == ["mlp-1x16", "mlp-2x32"]
    assert [c["label"] for c in design.conditions] == ["full", "keep0.5-noise0", "keep0.1-noise0", "keep0.02-noise0", "keep1-noise0.1",
                                                       "keep1-noise1"]
    assert shared.settings(quick=True)["n_splits"] == 3 and shared.settings(quick=False)["n_splits"] == 10


def test_the_full_design_trains_mnist_mlps_of_one_to_three_hidden_layers():
    data_dir_or_skip()  # building the design reads MNIST's size
    design = shared.design(quick=False)
    assert design.task == {"name": "mnist", "n_train": 10000, "n_test": 1000}
    assert design.architectures == {"mlp-1x256": [256], "mlp-2x256": [256, 256], "mlp-3x512": [512, 512, 512]}
    assert design.n_runs == 8 * 3 * 2 * 8 == 384 and design.n_time_points == 21 and design.n_epochs == 20
    assert [c["keep_fraction"] for c in design.conditions] == [1.0, 0.5, 0.1, 0.02, 1.0, 1.0, 1.0]
    assert [c["measurement_noise"] for c in design.conditions] == [0.0, 0.0, 0.0, 0.0, 0.1, 0.3, 1.0]
    assert design.learning_rates == {k: list(v) for k, v in shared.FULL_LEARNING_RATES.items()}
    task = design.tasks[0].config
    assert task["network"]["readout"] == "softmax" and task["training"]["loss"] == "cross_entropy"


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory):
    """Every figure's quick mode, run once into one folder: ``(out_dir, {name: summary})``."""
    out = tmp_path_factory.mktemp("nayebi2020")
    return out, {name: run_figure(name, quick=True, out_dir=out, progress=False) for name in ORDER}


@pytest.mark.parametrize("name", NAMES)
def test_quick_figure_writes_results_and_png_and_redraws(name, quick_runs, tmp_path):
    out, summaries = quick_runs
    png = out / f"{name}.png"
    assert summaries[name]["png"] == str(png) and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    meta = json.loads((out / f"{name}_results.json").read_text())
    assert meta["figure"] == name and meta["quick"] is True and meta["config"]["task"]["name"] == "student_teacher"
    fig = replot(name, out / f"{name}_results", png=tmp_path / "again.png")
    assert fig.get_suptitle().startswith(f"Nayebi et al. 2020, {name}: ")
    assert (tmp_path / "again.png").read_bytes() == png.read_bytes()  # drawn from the saved results alone
    for ax in fig.axes:
        for label in (ax.get_xlabel(), ax.get_ylabel()):
            assert not label or label.endswith(")"), f"{name}: axis label {label!r} has no unit"
    assert all(ax.get_ylabel() for ax in fig.axes)


def test_summary_numbers_are_finite_and_accuracies_are_fractions(quick_runs):
    _, summaries = quick_runs
    for name, summary in summaries.items():
        for key, value in summary.items():
            if isinstance(value, float):
                assert math.isfinite(value), (name, key)
                if key.endswith(("accuracy", "chance", "_std", "within_pairs", "confused_across_groups", "retained")):
                    assert 0.0 <= value <= 1.0, (name, key, value)


def test_the_figures_share_one_data_set_generated_once(quick_runs, tmp_path, monkeypatch):
    out, summaries = quick_runs
    design = shared.design(quick=True)
    folder = out / "nayebi2020_quick"
    assert sorted(p.name for p in folder.glob("task-*.json")) == sorted(f"{t.name}.json" for t in design.tasks)
    for name in NAMES:
        assert json.loads((out / f"{name}_results.json").read_text())["config"]["n_runs"] == 128
    first, _ = shared.dataset(quick=True, out_dir=out, progress=False)
    assert first.run.nunique() == 128 and set(first.condition) == {c["label"] for c in design.conditions}

    def no_training(*args, **kwargs):
        raise AssertionError("a stored run was trained again")

    monkeypatch.setattr(bioplastic.training, "train", no_training)
    again, _ = shared.dataset(quick=True, out_dir=out, progress=False)
    assert again is first  # read once per process
    copy = tmp_path / "copy"
    shutil.copytree(folder, shared.dataset_dir(copy, quick=True))
    read, _ = shared.dataset(quick=True, out_dir=copy, progress=False)  # another folder: read from disk, nothing trained
    pd.testing.assert_frame_equal(read, first, check_exact=True)
    monkeypatch.undo()
    lost = design.tasks[3]
    result_path(shared.dataset_dir(copy, quick=True), lost).with_suffix(".npz").unlink()
    rebuilt, _ = shared.dataset(quick=True, out_dir=copy, progress=False)  # a result lost since: its task runs again
    assert rebuilt is not read and result_path(shared.dataset_dir(copy, quick=True), lost).with_suffix(".npz").exists()
    pd.testing.assert_frame_equal(rebuilt, first, check_exact=True)


def test_compute_passes_workers_and_scheduler_to_the_generation(monkeypatch):
    seen = {}

    class Stop(Exception):
        pass

    def recording(design, out_dir, **kwargs):
        seen.update(kwargs)
        raise Stop

    monkeypatch.setattr(shared, "generate_dataset", recording)
    for name in NAMES:
        for workers, scheduler in ((3, None), (None, "tcp://127.0.0.1:1")):
            seen.clear()
            with pytest.raises(Stop):
                FIGURES[name].compute(quick=True, progress=False, workers=workers, scheduler=scheduler)
            assert (seen["workers"], seen["scheduler"], seen["progress"]) == (workers, scheduler, False)


def test_quick_rules_are_identified_by_pair_above_chance_and_the_shuffled_control_is_at_chance(quick_runs):
    _, summaries = quick_runs
    s = summaries["identify_rules"]
    assert s["chance"] == 0.25 and s["n_runs"] == 64 and s["n_splits"] == 3 and s["n_test"] == 16
    # measured 0.46 (linear SVM, all observables) against chance 0.25; every test run labelled within its pair SGD/Adam or FA/IA
    # (measured 1.0, 0.5 if the pairs were confused as often as their members)
    assert s["best_accuracy"] > 0.35
    assert s["within_pairs"] > 0.9
    assert abs(s["shuffled_accuracy"] - 0.25) < binomial_band(0.25, s["n_splits"] * s["n_test"])


def test_quick_neuromodulated_rules_are_told_from_gradient_based_ones_and_apart(quick_runs):
    _, summaries = quick_runs
    s = summaries["identify_neuromodulated"]
    assert (s["eight_rules_chance"], s["neuromodulated_vs_gradient_chance"], s["among_neuromodulated_chance"]) == (0.125, 0.5, 0.25)
    assert s["n_runs"] == 128 and s["n_test"] == 32
    # measured 0.40 (linear SVM) among the eight against chance 0.125
    assert s["best_accuracy"] > 0.3
    # neuromodulated against gradient-based: measured 0.93 (SVM), 0.95 (forest), 0.92 (Conv1D) against chance 0.5
    for classifier in shared.CLASSIFIERS:
        assert s[f"neuromodulated_vs_gradient_{classifier}_accuracy"] > 0.8, classifier
    # among NP, DANP, REINFORCE and WP: measured 0.56-0.62 against chance 0.25
    assert max(s[f"among_neuromodulated_{c}_accuracy"] for c in shared.CLASSIFIERS) > 0.45
    assert s["confused_across_groups"] < 0.25  # measured 0.12
    assert abs(s["shuffled_accuracy"] - 0.125) < binomial_band(0.125, s["n_splits"] * s["n_test"])


def test_quick_transfer_summary_is_what_its_arrays_say(quick_runs):
    out, summaries = quick_runs
    s = summaries["identify_transfer"]
    arrays = np.load(out / "identify_transfer_results.npz")
    conditions = [str(c) for c in arrays["conditions"]]
    families = [str(f) for f in arrays["families"]]
    assert families == ["weights", "activities", "activity_changes"] and arrays["condition_accuracy"].shape == (3, 6, 3)
    means = arrays["condition_accuracy"].mean(axis=2)
    for i, family in enumerate(families):
        for j, condition in enumerate(conditions):
            assert s[f"{family}_{condition}_accuracy"] == pytest.approx(means[i, j])
        assert s[f"{family}_degraded_accuracy"] == pytest.approx(means[i, 1:].mean())
        assert s[f"{family}_drop"] == pytest.approx(means[i, 0] - means[i, 1:].mean())
        above = means[i, 0] - 0.125
        assert s[f"{family}_retained"] == pytest.approx((means[i, 1:].mean() - 0.125) / above if above > 0 else 0.0)
    assert s["chance"] == 0.125 and s["n_runs"] == 128  # all eight rule classes
    assert s["activities_more_robust"] == (s["activities_retained"] > s["weights_retained"])
    # held out: one split each, all runs of the other architecture as the test set
    assert [str(a) for a in arrays["architectures"]] == ["mlp-1x16", "mlp-2x32"]
    np.testing.assert_array_equal(arrays["held_out_n_test"], [64, 64])
    assert s["held_out_mlp-1x16_accuracy"] == arrays["held_out_accuracy"][0]
    # the first ceil(f * 11) time points
    np.testing.assert_array_equal(arrays["n_time_points"], [math.ceil(f * 11) for f in (0.1, 0.25, 0.5)] + [11])
    assert s["first_1_accuracy"] == pytest.approx(s["in_distribution_accuracy"])  # all time points: the same features and splits


def test_compute_does_not_import_matplotlib(quick_runs):
    out, summaries = quick_runs
    report = compute_without_matplotlib("bioplastic.figures.nayebi2020.transfer", "compute_identify_transfer", out_dir=out, timeout=300)
    assert report["quick"] is True and {"condition_accuracy", "held_out_accuracy", "time_accuracy"} <= set(report["arrays"])
    expected = {k: v for k, v in summaries["identify_transfer"].items() if k not in ("png", "results")}
    assert report["summary"] == pytest.approx(expected)  # read back from the stored runs, the same numbers
