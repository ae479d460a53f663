"""Quick modes of the Dalm et al. (2024) figures: registered, run, write their results and PNG, redraw, and show the effects."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import compute_without_matplotlib, data_dir_or_skip

from bioplastic.figures import FIGURES, available_figures, replot, run_figure
from bioplastic.figures.dalm2024.shared import (
    VARIANTS,
    InputCorrelation,
    is_decorrelated,
    make_network,
    make_rule,
    rule_of,
    train_run,
)

NAMES = ["dalm_cifar10", "dalm_decorrelation", "dalm_estimator", "dalm_mnist", "dalm_no_clean_pass"]


def _needs_data():
    data_dir_or_skip()  # the MNIST and CIFAR-10 figures need the real data


def test_figures_are_registered():
    names = available_figures()
    for name in NAMES:
        assert name in names and callable(FIGURES[name])
        assert FIGURES[name].__module__.startswith("bioplastic.figures.dalm2024.")
        assert "quick:" in FIGURES[name].__doc__ and "full:" in FIGURES[name].__doc__


def test_variants_are_the_plain_rules_and_their_decorrelated_twins():
    from bioplastic import ActivityNodePerturbation, Backprop, IterativeNodePerturbation, NodePerturbation

    classes = {"bp": Backprop, "np": NodePerturbation, "inp": IterativeNodePerturbation, "anp": ActivityNodePerturbation}
    assert VARIANTS == ("bp", "dbp", "np", "dnp", "inp", "dinp", "anp", "danp")
    for variant in VARIANTS:
        rule = make_rule(variant)
        assert type(rule) is classes[rule_of(variant)]
        assert is_decorrelated(variant) == variant.startswith("d")
        if rule_of(variant) != "bp":
            assert (rule.sigma, rule.noise, rule.n_samples, rule.clean_pass) == (1e-3, "gaussian", 1, True)
    assert make_rule("danp", n_samples=5, clean_pass=False).n_samples == 5
    with pytest.raises(ValueError, match="unknown variant 'dfa'; expected one of bp, dbp, np, dnp"):
        make_rule("dfa")
    with pytest.raises(ValueError, match=r"backprop takes no perturbation options, got \['n_samples'\]"):
        make_rule("dbp", n_samples=2)
    net = make_network((6, 5, 4, 3), decorrelated=True)
    assert net.decorrelated_layers() == [True, True, True] and net.decorrelation.eta == 1e-3
    assert [p.init for p in net.projections] == ["he_normal"] * 3
    assert net.activations[0].slope == 0.2 and net.populations[-1].activation_.name == "softmax"
    assert make_network((6, 5, 3), decorrelated=False).decorrelated_layers() == [False, False]


def _toy_task(n_inputs=6):
    from bioplastic.tasks.base import DatasetTask

    rng = np.random.default_rng(1)
    mixing = rng.standard_normal((n_inputs, n_inputs))  # correlated inputs
    x = rng.standard_normal((300, n_inputs)) @ mixing
    labels = np.argmax(x @ rng.standard_normal((n_inputs, 3)), axis=1)
    return DatasetTask(x[:200], labels[:200], x[200:], labels[200:], n_classes=3, name="toy")


def _naive_mean_squared_correlation(x):
    """Mean of rho_ij^2 over the ordered pairs i != j of the columns of ``x`` that vary, one pair at a time."""
    cols = [j for j in range(x.shape[1]) if np.std(x[:, j]) > 0]
    values = [np.corrcoef(x[:, i], x[:, j])[0, 1] ** 2 for i in cols for j in cols if i != j]
    return float(np.mean(values))


def test_input_correlation_is_the_correlation_of_each_projections_input_after_r():
    from bioplastic.network import NetworkState

    task = _toy_task()
    net = make_network((6, 5, 3), decorrelated=True)
    state = net.init_state([0, 1], dtype=np.float64)
    rng = np.random.default_rng(2)
    lateral = [np.eye(6) + 0.3 * rng.standard_normal((2, 6, 6)), np.eye(5) + 0.3 * rng.standard_normal((2, 5, 5))]
    state = NetworkState(state.weights, state.biases, lateral)

    class Engine:
        network, state_, dtype = net, state, np.float64

    got = InputCorrelation(n_probe=150).measure(Engine, task)["input_correlation"]
    assert got.shape == (2, 2)
    x = task.x_train[:150]
    for e in range(2):
        stimulus = x @ lateral[0][e].T  # x* = R x, sample by sample
        assert got[e, 0] == pytest.approx(_naive_mean_squared_correlation(stimulus), rel=1e-10)
        hidden = net.activations[0](stimulus @ state.weights[0][e].T + state.biases[0][e])
        assert got[e, 1] == pytest.approx(_naive_mean_squared_correlation(hidden @ lateral[1][e].T), rel=1e-10)
    with pytest.raises(ValueError, match="n_probe should be an integer of at least 2, got 1"):
        InputCorrelation(n_probe=1)


def test_train_run_of_a_decorrelated_network_resumes_from_its_checkpoint_as_an_uninterrupted_run(tmp_path):
    task = _toy_task()
    settings = {"learning_rate": 1e-2, "seeds": [0, 1], "batch_size": 20, "progress": False, "callbacks": [InputCorrelation(n_probe=50)]}
    fresh = train_run(None, "run", make_network((6, 5, 3), decorrelated=True), make_rule("danp"), task, n_epochs=3, **settings)
    train_run(tmp_path, "run", make_network((6, 5, 3), decorrelated=True), make_rule("danp"), task, n_epochs=2, **settings)
    assert (tmp_path / "checkpoints" / "run.npz").exists() and (tmp_path / "run.json").exists()
    resumed = train_run(tmp_path, "run", make_network((6, 5, 3), decorrelated=True), make_rule("danp"), task, n_epochs=3, **settings)
    for record in ("test_accuracy", "input_correlation"):
        np.testing.assert_array_equal(resumed[record], fresh[record])
    # the decorrelation matrices learn: the stimulus correlation falls from its value at R = I
    correlation = np.asarray(fresh["input_correlation"])[:, :, 0]
    assert np.all(correlation[:, -1] < correlation[:, 0])


def test_the_estimators_decorrelation_matrices_are_kept_and_read_back(tmp_path):
    from bioplastic.figures.dalm2024.estimator import _decorrelated_state

    task = _toy_task()
    net = make_network((6, 5, 3), decorrelated=True)
    state = net.init_state([0], dtype=np.float64)
    cfg = {"sizes": (6, 5, 3), "weight_seed": 0, "decorrelation_steps": 7, "decorrelation_batch": 20}
    first = _decorrelated_state(net, state, task, cfg, tmp_path)
    assert not np.allclose(first.lateral[0], np.eye(6))  # R learnt
    np.testing.assert_array_equal(first.weights[0], state.weights[0])  # the weights held
    again = _decorrelated_state(net, state, task, cfg, tmp_path)
    for a, b in zip(first.lateral, again.lateral, strict=True):
        np.testing.assert_array_equal(a, b)
    longer = _decorrelated_state(net, state, task, {**cfg, "decorrelation_steps": 8}, tmp_path)  # other settings: learnt afresh
    assert not np.array_equal(longer.lateral[0], first.lateral[0])


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory):
    """Every figure's quick mode, run once into one folder (the MNIST figures share their training runs there)."""
    if not os.environ.get("BIOPLASTIC_DATA_DIR"):
        return None
    out = tmp_path_factory.mktemp("dalm2024")
    return out, {name: run_figure(name, quick=True, out_dir=out, progress=False)
                 for name in ("dalm_mnist", "dalm_decorrelation", "dalm_no_clean_pass", "dalm_estimator", "dalm_cifar10")}


@pytest.mark.parametrize("name", NAMES)
def test_quick_figure_writes_results_and_png_and_redraws(name, quick_runs, tmp_path):
    _needs_data()
    out, summaries = quick_runs
    png = out / f"{name}.png"
    assert Path(summaries[name]["png"]) == png and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    meta = json.loads((out / f"{name}_results.json").read_text())
    assert meta["figure"] == name and meta["quick"] is True
    assert meta["config"]["task"]["name"] == ("cifar10" if name == "dalm_cifar10" else "mnist")
    fig = replot(name, out / f"{name}_results", png=tmp_path / "again.png")
    assert fig.get_suptitle().startswith("Dalm et al. 2024, ")  # the study, then the panel
    assert (tmp_path / "again.png").read_bytes() == png.read_bytes()  # drawn from the saved results alone
    for ax in fig.axes:
        for label in (ax.get_xlabel(), ax.get_ylabel()):
            assert label.endswith(")"), f"{name}: axis label {label!r} has no unit"


def test_quick_mnist_learns_with_every_variant(quick_runs):
    _needs_data()
    _, summaries = quick_runs
    s = summaries["dalm_mnist"]
    for variant in VARIANTS:
        assert s[f"{variant}_test_accuracy"] > 0.1, variant  # above chance (10 classes)
    # 150 Adam steps at learning rate 1e-3 on 5,000 images: BP reaches ~0.88 (measured 0.885), the NP family 0.69-0.82
    assert s["bp_test_accuracy"] > 0.8
    assert min(s[f"{v}_test_accuracy"] for v in VARIANTS) > 0.5
    assert s["bp_learning_rate"] == s["np_learning_rate"] == 1e-3  # quick mode's rate for every variant


def test_quick_no_clean_pass_learns_and_shares_danps_run_with_dalm_mnist(quick_runs):
    _needs_data()
    out, summaries = quick_runs
    s = summaries["dalm_no_clean_pass"]
    assert s["clean_pass_test_accuracy"] == summaries["dalm_mnist"]["danp_test_accuracy"]  # the same run, read back
    assert (out / "dalm_mnist_danp_no_clean_pass_quick.json").exists()
    assert s["no_clean_pass_test_accuracy"] > 0.5  # two noisy passes learn as well (measured 0.682 against 0.695)


def test_quick_decorrelation_lowers_the_input_correlation_of_every_projection(quick_runs):
    _needs_data()
    _, summaries = quick_runs
    s = summaries["dalm_decorrelation"]
    anp, danp = np.asarray(s["anp_input_correlation"]), np.asarray(s["danp_input_correlation"])
    # at the start R = I: both networks see the same inputs
    np.testing.assert_allclose(s["danp_initial_input_correlation"], s["anp_initial_input_correlation"], rtol=1e-6)
    # without R the stimulus, projection 0's input, does not change during training
    assert anp[0] == pytest.approx(s["anp_initial_input_correlation"][0], rel=1e-9)
    # with R every projection's input ends less correlated; measured ratios 0.88 (stimulus), 0.55 and 0.55 (hidden layers)
    assert np.all(danp < anp)
    ratio = np.asarray(s["correlation_ratio"])
    assert ratio[0] < 0.95 and np.all(ratio[1:] < 0.75)


def test_quick_estimator_cosine_with_backprop_rises_with_the_noise_samples(quick_runs):
    _needs_data()
    _, summaries = quick_runs
    s = summaries["dalm_estimator"]
    assert s["n_samples"] == [1, 5, 20, 50]
    for variant in ("np", "dnp", "inp", "dinp", "anp", "danp"):
        mean, spread = np.asarray(s[f"{variant}_cosine"]), np.asarray(s[f"{variant}_cosine_std"])
        # K = 50 averages 50 draws: its cosine exceeds K = 1's by more than three times the larger spread over the noise seeds
        # (measured gains 0.32 (ANP) to 0.55 (DNP); spreads at most 0.073)
        assert mean[-1] - mean[0] > 3 * max(spread[0], spread[-1]), variant
        assert np.all(mean > 0)
    # INP perturbs one layer at a time (no cross-talk): at K = 50 its update is nearly backprop's (measured 0.993, spread
    # 0.0007 over the seeds), and above NP's at every K (the same noise draws; measured 0.72 against 0.52 at K = 1)
    assert s["inp_cosine"][-1] > 0.97
    assert np.all(np.asarray(s["inp_cosine"]) > np.asarray(s["np_cosine"]))


def test_quick_cifar10_learns_with_backprop(quick_runs):
    _needs_data()
    _, summaries = quick_runs
    s = summaries["dalm_cifar10"]
    for variant in VARIANTS:
        assert 0.0 <= s[f"{variant}_test_accuracy"] <= 1.0
    # 80 steps on 2,000 pooled images: BP reaches ~0.35 (measured 0.352), well above chance (0.1)
    assert s["bp_test_accuracy"] > 0.25 and s["dbp_test_accuracy"] > 0.25


def test_compute_does_not_import_matplotlib():
    _needs_data()
    report = compute_without_matplotlib("bioplastic.figures.dalm2024.cifar10", "compute_dalm_cifar10", timeout=300)
    assert report["quick"] is True and "variants" in report["arrays"] and "danp_test_accuracy" in report["arrays"]
    assert set(report["summary"]) == {f"{v}_{key}" for v in VARIANTS for key in ("test_accuracy", "learning_rate")}
