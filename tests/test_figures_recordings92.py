"""The 92-image IT study: CIFAR-10 CNNs' hidden layers against monkey and human IT; registered, run, redrawn, and their properties."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import compute_without_matplotlib, data_dir_or_skip

from bioplastic.figures import FIGURES, available_figures, figures_by_study, replot, run_figure
from bioplastic.figures.recordings92 import CITATION, STUDY, shared

NAMES = ["recordings92_dimensionality", "recordings92_it"]
N_PAIRS = 92 * 91 // 2


def test_figures_are_registered_under_the_study():
    names = available_figures()
    for name in NAMES:
        assert name in names and FIGURES[name].__module__.startswith("bioplastic.figures.recordings92.")
        assert "quick:" in FIGURES[name].__doc__ and "full:" in FIGURES[name].__doc__
    groups = {study: (citation, listed) for study, citation, listed in figures_by_study()}
    assert groups[STUDY] == (CITATION, NAMES)
    for reference in ("Kriegeskorte et al., Neuron 60, 1126 (2008)", "Kiani et al.", "Nili et al.", "arXiv 2509.26560", "Stringer et al., Nature"):
        assert reference in CITATION


def test_run_details_name_the_task_its_provenance_and_the_mode():
    from bioplastic.figures import FigureResults

    def details(task, quick):
        return shared.run_details(FigureResults({}, {"quick": quick, "config": {"task": task}}), "3 seeds")

    sizes = {"n_train": 50000, "n_test": 10000}
    assert details({**sizes, "provenance": "lossy_subset"}, True) == "CIFAR-10 (50,000 / 10,000 images, offline JPEG-lossy subset); 3 seeds; quick run"
    assert details({**sizes, "provenance": "canonical"}, False) == "CIFAR-10 (50,000 / 10,000 images, canonical); 3 seeds; full run"
    assert details(sizes, False) == "CIFAR-10 (50,000 / 10,000 images, source not stated); 3 seeds; full run"


def test_seed_means_and_intervals_leave_out_the_members_whose_layer_is_silent():
    # columns: three defined members; two (the first member's layer silent); none
    values = np.array([[1.0, np.nan, np.nan], [3.0, 2.0, np.nan], [5.0, 4.0, np.nan]])
    np.testing.assert_array_equal(shared.seed_mean(values), [3.0, 3.0, np.nan])
    np.testing.assert_array_equal(shared.measured_members(values), [3, 2, 0])
    low, high = shared.seed_interval(values, n_bootstrap=4000, confidence=0.9, seed=0)
    # resampling {2, 4}: the mean is 2 or 4 with probability 1/4 each (> 5%), so the 90% interval is exactly [2, 4]
    assert (low[1], high[1]) == (2.0, 4.0)
    # resampling {1, 3, 5}: the mean is 1 (or 5) with probability 1/27 (< 5%), next 5/3 (or 13/3) with 3/27 (> 5%)
    assert 1.0 <= low[0] <= 5 / 3 and 13 / 3 <= high[0] <= 5.0
    assert np.isnan(low[2]) and np.isnan(high[2])
    # a 2-d block per seed keeps its shape, and a fixed seed gives the same interval
    block = np.arange(12.0).reshape(3, 2, 2)
    first, again = shared.seed_interval(block, n_bootstrap=50, confidence=0.9, seed=3), shared.seed_interval(block, n_bootstrap=50, confidence=0.9, seed=3)
    assert first[0].shape == (2, 2)
    np.testing.assert_array_equal(first, again)
    assert (first[0] <= shared.seed_mean(block)).all() and (shared.seed_mean(block) <= first[1]).all()


def test_the_networks_and_rules_of_the_quick_and_full_modes():
    from bioplastic import ActivityNodePerturbation, Backprop, FeedbackAlignment, NodePerturbation, SignSymmetry

    quick, full = shared.make_network(True, "sgd"), shared.make_network(False, "sgd")
    # both modes: 32 -> 28 (5x5) -> 14 (pool) x 6 channels, 14 -> 10 -> 5 x 8 channels, dense 32
    assert quick.sizes == full.sizes == (3072, 6 * 14 * 14, 8 * 5 * 5, 32, 10)
    assert shared.hidden_layers(quick) == ([1, 2, 3], ["maps1", "maps2", "hidden1"])
    # DANP decorrelates the inputs of the all-to-all projections only (a convolution's input is refused)
    assert shared.make_network(True, "danp").decorrelated_layers() == [False, False, True, True]
    assert quick.decorrelated_layers() == [False] * 4
    classes = {"sgd": Backprop, "np": NodePerturbation, "fa": FeedbackAlignment, "sa": SignSymmetry, "danp": ActivityNodePerturbation}
    for rule, cls in classes.items():
        plasticity, optimiser, homeostasis = shared.make_rule(rule)
        assert type(plasticity) is cls and (homeostasis is not None) == (rule == "np")
        assert (optimiser == "sgd") == (rule in ("sgd", "np"))
    assert shared.make_rule("np")[0].sigma == 1e-4 and shared.make_rule("danp")[0].sigma == 1e-3
    with pytest.raises(ValueError, match="unknown rule 'dfa'; expected one of sgd, np, fa, sa, danp"):
        shared.make_rule("dfa")
    for quick_mode in (True, False):
        cfg = shared.settings(quick_mode)
        assert set(cfg["n_epochs"]) == set(cfg["learning_rates"]) == set(cfg["rules"]) <= set(shared.RULES)
        assert cfg["record_epochs"][0] == 0 and max(cfg["n_epochs"].values()) in cfg["record_epochs"]
        assert cfg["n_units"] <= min(shared.make_network(quick_mode, "sgd").sizes[1:-1])
        assert cfg["alpha_ranks"][1] <= cfg["n_units"]
    assert shared.settings(False)["rules"] == list(shared.RULES)


def _toy_recorder(record_at):
    rng = np.random.default_rng(0)
    return shared.LayerGeometry(rng.standard_normal((40, 3 * 8 * 8)), rng.standard_normal((12, 3 * 8 * 8)), rng.random(66),
                                rng.random((2, 66)), layers=[1, 2], n_units=6, reliability=0.7, alpha_ranks=[1, 4], record_at=record_at)


def _toy_task():
    from bioplastic.tasks.base import DatasetTask

    rng = np.random.default_rng(1)
    x = rng.standard_normal((120, 3 * 8 * 8))
    labels = np.argmax(x[:, :3], axis=1)
    return DatasetTask(x[:80], labels[:80], x[80:], labels[80:], n_classes=3, name="toy")


def _toy_network():
    from bioplastic.models import cnn

    # the feature maps have 18 units, of which the recorder samples 6; the dense layer's 6 are recorded whole
    return cnn((3, 8, 8), [dict(out_channels=2, kernel_size=3, pool=2)], 3, dense=(6,), readout="softmax")


def _toy_run(recorder, n_epochs, checkpoint=None):
    from bioplastic import Backprop, train

    return train(_toy_network(), Backprop(), _toy_task(), n_epochs=n_epochs, learning_rate=0.05, seeds=[0, 1], batch_size=20,
                 loss="cross_entropy", progress=False, callbacks=[recorder], checkpoint=checkpoint)


def test_layer_geometry_measures_what_the_estimators_give_and_resumes_as_an_uninterrupted_run(tmp_path):
    from bioplastic.recordings import (
        add_reliability_noise,
        compare_rdms,
        noise_corrected_participation_ratio,
        participation_ratio,
        rdm,
    )

    recorder = _toy_recorder([0, 2])
    fresh = _toy_run(recorder, 3)
    assert set(recorder.records()) <= set(fresh.records)
    for name in recorder.records():
        values = fresh.records[name]
        assert values.shape == (2, 4, 2) and np.isnan(values[:, [1, 3]]).all(), name  # measured at the chosen records only
        # (6 units of 40 stimuli: the corrected PR may be infinite and a cross-validated spectrum negative where fitted)
        if name in ("pr_clean", "pr_naive", "alpha_clean", "spearman_mit", "spearman_hit"):
            assert np.isfinite(values[:, [0, 2]]).all(), name
    # record 0 against the estimators applied to the initial state, one member and layer at a time
    network, state = _toy_network(), _toy_network().init_state([0, 1])
    rates = network.forward(state, recorder.stimuli).rates
    it_rates = network.forward(state, recorder.it_inputs).rates
    for e, member_seed in enumerate([0, 1]):
        for j, layer in enumerate([1, 2]):
            units = recorder.units(member_seed, layer, rates[layer].shape[2])
            clean = rates[layer][e][:, units]
            noisy = add_reliability_noise(clean, reliability=0.7, n_repeats=2, seed=recorder._rng(member_seed, layer, 1, 0))
            record = {name: fresh.records[name][e, 0, j] for name in recorder.records()}
            assert record["pr_clean"] == pytest.approx(participation_ratio(clean), rel=1e-10)
            assert record["pr_naive"] == pytest.approx(participation_ratio(noisy.mean_responses()), rel=1e-10)
            # units sampled from a wider layer: their finite number corrected too; a layer recorded whole: not
            sampled = "both" if len(units) < rates[layer].shape[2] else "stimuli"
            assert sampled == ("both" if layer == 1 else "stimuli")
            assert record["pr_corrected"] == pytest.approx(noise_corrected_participation_ratio(noisy, sampled=sampled), rel=1e-10)
            layer_rdm = rdm(it_rates[layer][e])
            assert record["spearman_mit"] == pytest.approx(compare_rdms(layer_rdm, recorder.monkey_rdm), rel=1e-10)
            hit = np.mean([compare_rdms(layer_rdm, h) for h in recorder.human_rdms])
            assert record["spearman_hit"] == pytest.approx(hit, rel=1e-10)
    # two epochs, then a third from the checkpoint: the records of one uninterrupted run (the noise seeded by the record)
    _toy_run(_toy_recorder([0, 2]), 2, checkpoint=tmp_path / "run")
    resumed = _toy_run(_toy_recorder([0, 2]), 3, checkpoint=tmp_path / "run")
    for name in recorder.records():
        np.testing.assert_array_equal(resumed.records[name], fresh.records[name])
    again = _toy_run(_toy_recorder([0, 2]), 3)  # and a second fresh run: the same numbers
    for name in recorder.records():
        np.testing.assert_array_equal(again.records[name], fresh.records[name])
    description = recorder.describe()
    assert description["it_inputs"]["shape"] == [12, 192] and len(description["stimuli"]["sha256"]) == 64


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory):
    """Both figures' quick modes, run once into one folder (the second reuses the runs of the first)."""
    data_dir_or_skip()
    shared.study_runs.cache_clear()
    out = tmp_path_factory.mktemp("recordings92")
    summaries = {name: run_figure(name, quick=True, out_dir=out, progress=False) for name in NAMES}
    results = {name: np.load(out / f"{name}_results.npz") for name in NAMES}
    return out, summaries, results


@pytest.mark.parametrize("name", NAMES)
def test_quick_figure_writes_results_and_png_and_redraws_identically(name, quick_runs, tmp_path):
    out, summaries, _ = quick_runs
    png = out / f"{name}.png"
    assert Path(summaries[name]["png"]) == png and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    meta = json.loads((out / f"{name}_results.json").read_text())
    assert meta["figure"] == name and meta["quick"] is True
    task = meta["config"]["task"]
    assert (task["name"], task["n_train"], task["n_test"], task["augment"]) == ("cifar10", 1000, 300, False)
    assert task["provenance"] == "lossy_subset" and "lossy" in task["data"]  # the offline subset says what it is
    assert meta["config"]["rules"] == ["sgd", "np", "sa", "danp"]
    assert meta["config"]["rules_used"]["danp"]["decorrelation"] == [False, False, True, True]
    fig = replot(name, out / f"{name}_results", png=tmp_path / "again.png")
    assert fig.get_suptitle().startswith(f"{STUDY}, ") and "offline JPEG-lossy subset" in fig.get_suptitle()
    assert (tmp_path / "again.png").read_bytes() == png.read_bytes()  # drawn from the saved results alone
    for ax in fig.axes:
        for label in (ax.get_xlabel(), ax.get_ylabel()):
            assert label.endswith(")"), f"{name}: axis label {label!r} has no unit"


def test_quick_dimensionality_estimates(quick_runs):
    _, summaries, results = quick_runs
    arrays, s = results["recordings92_dimensionality"], summaries["recordings92_dimensionality"]
    assert s["layers"] == ["maps1", "maps2", "hidden1"] and s["n_units"] == 32
    for rule in ("sgd", "np", "sa", "danp"):
        np.testing.assert_array_equal(arrays[f"{rule}_epochs"], [0, 1, 3])
        for estimator in ("clean", "naive", "corrected"):
            values = arrays[f"{rule}_pr_{estimator}"]
            assert values.shape == (2, 3, 3) and np.isfinite(values).all() and (values >= 1).all()
        # the naive estimates are bounded by the 32 units (and 199 stimulus dimensions); the corrected one is not
        assert (arrays[f"{rule}_pr_naive"] <= 32).all() and (arrays[f"{rule}_pr_clean"] <= 32).all()
        for estimator in ("clean", "naive", "cv"):
            assert arrays[f"{rule}_alpha_{estimator}"].shape == (2, 3, 3)
        assert np.isfinite(arrays[f"{rule}_alpha_clean"]).all() and np.isfinite(arrays[f"{rule}_alpha_naive"]).all()
        # trial noise spreads variance over more dimensions: the trial-averaged PR exceeds the noise-free units' one
        assert (arrays[f"{rule}_pr_naive"] > arrays[f"{rule}_pr_clean"]).all()
        assert s[f"{rule}_diverged_fraction"] == 0.0
    # every rule starts from the same weights and records the same units with the same noise: equal records at epoch 0
    for rule in ("np", "sa", "danp"):
        for estimator in ("clean", "naive", "corrected"):
            np.testing.assert_allclose(arrays[f"{rule}_pr_{estimator}"][:, 0], arrays[f"sgd_pr_{estimator}"][:, 0], rtol=1e-6)
    # 150 SGD steps: above chance (measured 0.228)
    assert s["sgd_final_test_accuracy"] > 0.15
    for rule in ("np", "sa", "danp"):
        assert s[f"{rule}_matched_sgd_epoch"] in (0, 1, 3)
        k = [0, 1, 3].index(s[f"{rule}_matched_sgd_epoch"])
        assert s[f"{rule}_matched_sgd_test_accuracy"] == pytest.approx(float(np.mean(arrays["sgd_test_accuracy"][:, k])))
        difference = arrays[f"{rule}_pr_corrected"][:, -1] - arrays["sgd_pr_corrected"][:, k]
        np.testing.assert_allclose(s[f"{rule}_minus_sgd_pr_corrected"], difference.mean(axis=0), rtol=1e-10)
        low, high = np.asarray(s[f"{rule}_minus_sgd_pr_corrected_ci"])
        assert (low <= high).all() and (low >= difference.min(axis=0) - 1e-9).all() and (high <= difference.max(axis=0) + 1e-9).all()
        assert s[f"{rule}_lower_dimensional_than_sgd"] == (high < 0).tolist()
        # SGD's records that bracket the rule's final accuracy, and the paired differences at each
        lo, hi = (list(arrays["sgd_epochs"]).index(e) for e in s[f"{rule}_bracketing_sgd_epochs"])
        sgd_accuracy = arrays["sgd_test_accuracy"].mean(axis=0)
        assert hi - lo in (0, 1) and (sgd_accuracy[hi] > s[f"{rule}_final_test_accuracy"] or hi == 2)
        assert lo == hi or sgd_accuracy[lo] <= s[f"{rule}_final_test_accuracy"]
        for b, k in enumerate((lo, hi)):
            difference = arrays[f"{rule}_pr_corrected"][:, -1] - arrays["sgd_pr_corrected"][:, k]
            np.testing.assert_allclose(s[f"{rule}_minus_sgd_pr_corrected_bracket"][b], difference.mean(axis=0), rtol=1e-10)
            low, high = np.asarray(s[f"{rule}_minus_sgd_pr_corrected_bracket_ci"][b])
            assert (low >= difference.min(axis=0) - 1e-9).all() and (high <= difference.max(axis=0) + 1e-9).all()
        highs = np.array([h for _, h in s[f"{rule}_minus_sgd_pr_corrected_bracket_ci"]])
        assert s[f"{rule}_lower_dimensional_than_sgd_bracket"] == (highs < 0).all(axis=0).tolist()


def test_bracketing_records_are_the_two_records_around_the_accuracy():
    accuracy = np.array([[0.10, 0.30, 0.40, 0.45], [0.12, 0.26, 0.42, 0.47]])  # means 0.11, 0.28, 0.41, 0.46
    assert shared.bracketing_records(accuracy, 0.15) == (0, 1)
    assert shared.bracketing_records(accuracy, 0.28) == (1, 2)  # at a record's mean: that record and the next
    assert shared.bracketing_records(accuracy, 0.05) == (0, 0)
    assert shared.bracketing_records(accuracy, 0.9) == (3, 3)
    final, reference = np.array([[1.0, 2.0], [3.0, 4.0]]), np.arange(12.0).reshape(2, 3, 2)
    means, intervals = shared.bracket_differences(final, reference, (0, 2), n_bootstrap=100, confidence=0.9)
    np.testing.assert_allclose(means, [(final - reference[:, 0]).mean(axis=0), (final - reference[:, 2]).mean(axis=0)])
    assert len(intervals) == 2 and all(np.shape(ci) == (2, 2) for ci in intervals)


def test_quick_it_comparison(quick_runs):
    out, summaries, results = quick_runs
    arrays, s = results["recordings92_it"], summaries["recordings92_it"]
    for method in ("spearman", "kendall_tau_a"):
        lower, upper = s[f"hit_noise_ceiling_{method}"]
        assert 0 < lower < upper <= 1
        assert -1 <= s[f"mit_vs_hit_{method}"] <= 1
    assert s["hit_noise_ceiling_kendall_tau_a"][1] < s["hit_noise_ceiling_spearman"][1]  # tau-a is smaller than rho for the same data
    assert s["reference_models"]["monkeyIT"]["spearman_mit"] == pytest.approx(1.0)  # the data set's monkeyIT model is the data
    assert set(s["reference_models"]) == {"animacy", "FaceBodyManmadeNatobj", "monkeyIT", "EVA", "HMAX", "V1", "Silhouette", "RADON"}
    for rule in ("sgd", "np", "sa", "danp"):
        for when in ("initial", "final"):
            rdms = arrays[f"{rule}_{when}_rdms"]
            assert rdms.shape == (2, 3, N_PAIRS) and np.isfinite(rdms).all() and (rdms >= -1e-6).all() and (rdms <= 2 + 1e-6).all()
        for method in ("spearman", "kendall_tau_a"):
            for target in ("mit", "hit"):
                scores = arrays[f"{rule}_{method}_{target}"]
                assert scores.shape == (2, 2, 3) and np.isfinite(scores).all() and (np.abs(scores) <= 1).all()
                # the same initial weights for every rule (DANP's decorrelation starts at the identity)
                np.testing.assert_allclose(scores[0], arrays[f"sgd_{method}_{target}"][0], rtol=1e-5)
        for target in ("mit", "hit"):
            key = f"{rule}_{target}_spearman"
            # the recorder's last record is the final state's score (one pass with the other stimuli: float32 rounding only)
            np.testing.assert_allclose(arrays[f"{rule}_spearman_{target}_training"][:, -1], arrays[f"{rule}_spearman_{target}"][1], rtol=1e-3, atol=1e-4)
            np.testing.assert_allclose(s[f"{key}_change"], np.subtract(s[f"{key}_final"], s[f"{key}_initial"]), rtol=1e-9, atol=1e-12)
            for interval in ("final_ci_stimuli", "final_ci_seeds", "change_ci_stimuli", "change_ci_seeds"):
                low, high = np.asarray(s[f"{key}_{interval}"]).T
                assert np.isfinite(low).all() and (low <= high).all()
            # over seeds, the interval of the mean lies between the seeds' scores
            final = arrays[f"{rule}_spearman_{target}"][1]
            low, high = np.asarray(s[f"{key}_final_ci_seeds"]).T
            assert (low >= final.min(axis=0) - 1e-9).all() and (high <= final.max(axis=0) + 1e-9).all()
            assert all(1 / 21 <= p <= 1 for p in s[f"{key}_p_shuffled"])
            assert all(abs(m) < 0.1 for m in s[f"{key}_null_mean"])  # shuffled images: no similarity left
    # 150 SGD steps make every layer more similar to monkey IT than the untrained network (measured +0.04 to +0.07),
    # more than the shuffled-image baseline spreads (std 0.016-0.018)
    assert all(c > 0 for c in s["sgd_mit_spearman_change"])
    assert all(f > m + 3 * sd for f, m, sd in zip(s["sgd_mit_spearman_final"], s["sgd_mit_spearman_null_mean"], s["sgd_mit_spearman_null_std"]))
    # the 92 images reached the network as images_to_inputs made them, with the run's CIFAR-10 statistics
    from bioplastic.recordings import images_to_inputs, load_kriegeskorte92

    task = json.loads((out / "recordings92_it_results.json").read_text())["config"]["task"]
    inputs = images_to_inputs(load_kriegeskorte92(data_dir=data_dir_or_skip()).images, channel_mean=task["channel_mean"],
                              channel_std=task["channel_std"])
    recorder = json.loads((out / "recordings92_sgd_quick.json").read_text())["config"]["callbacks"][0]
    assert recorder["it_inputs"]["sha256"] == hashlib.sha256(np.ascontiguousarray(inputs, dtype=np.float64).tobytes()).hexdigest()


def test_compute_does_not_import_matplotlib_and_reproduces_the_summary(quick_runs):
    out, summaries, _ = quick_runs
    # a fresh interpreter reads the runs back from the checkpoints and recomputes the analysis (seeded): the same numbers
    report = compute_without_matplotlib("bioplastic.figures.recordings92.similarity", "compute_recordings92_it", out_dir=out)
    assert report["quick"] is True and "sgd_final_rdms" in report["arrays"] and "np_spearman_hit_training" in report["arrays"]
    expected = {k: v for k, v in summaries["recordings92_it"].items() if k not in ("png", "results")}
    assert report["summary"] == json.loads(json.dumps(expected))


def test_layer_rdms_are_the_same_bits_whatever_the_blas_threads():
    # a fresh process recomputes them from the checkpoints; a team of BLAS threads rounds float32 products differently
    from threadpoolctl import threadpool_limits

    from bioplastic.figures.recordings92 import shared
    from bioplastic.figures.recordings92.similarity import layer_rdms

    net = shared.make_network(True, "sa")
    state = net.init_state([0, 1], dtype=np.float32)
    x = np.random.default_rng(0).standard_normal((92, net.sizes[0]))
    layers, _ = shared.hidden_layers(net)
    threaded = layer_rdms(net, state, x, layers)
    with threadpool_limits(1):
        single = layer_rdms(net, state, x, layers)
    assert np.isfinite(threaded).all() and np.array_equal(threaded, single)
