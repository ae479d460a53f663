"""Quick modes of the Kunin et al. (2020) figures: they are registered, run, write their results and PNG, and redraw."""

import json

import numpy as np
import pytest
from conftest import data_dir_or_skip

from bioplastic.figures import FIGURES, available_figures, replot, run_figure
from bioplastic.figures.kunin2020.shared import RULE_LABELS, feedback_angles, make_rule

NAMES = ["kunin_cifar10", "kunin_mnist", "kunin_noise", "kunin_transfer"]


def _needs_data():
    data_dir_or_skip()  # the MNIST and CIFAR-10 figures need the real data


def test_figures_are_registered():
    names = available_figures()
    for name in NAMES:
        assert name in names and callable(FIGURES[name])
        assert "quick:" in FIGURES[name].__doc__ and "full:" in FIGURES[name].__doc__


def test_make_rule_refuses_an_unknown_name():
    with pytest.raises(ValueError, match="unknown rule 'xx'; expected one of bp, fa, dfa, usf"):
        make_rule("xx")


def test_feedback_angles_against_closed_forms():
    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((2, 3, 4))
    weights = [rng.standard_normal((2, 4, 5)), w1]
    aligned = {"B1": 2.0 * w1.transpose(0, 2, 1)}
    assert np.allclose(feedback_angles("kp", make_rule("kp"), weights, aligned), 0.0, atol=1e-6)
    assert np.allclose(feedback_angles("fa", make_rule("fa"), weights, {"B1": -w1.transpose(0, 2, 1)}), 180.0)
    assert np.all(feedback_angles("bp", make_rule("bp"), weights, {}) == 0.0)
    # uSF: the angle between W and sign(W), arccos(|W|_1 / (sqrt(n) |W|_2))
    flat = w1.reshape(2, -1)
    expected = np.degrees(np.arccos(np.abs(flat).sum(1) / (np.sqrt(flat.shape[1]) * np.linalg.norm(flat, axis=1))))
    assert np.allclose(feedback_angles("usf", make_rule("usf"), weights, {})[:, 0], expected)
    # DFA: only the last projection is compared, with D_{L-2}
    dfa = feedback_angles("dfa", make_rule("dfa"), weights, {"D0": w1.transpose(0, 2, 1)})
    assert np.allclose(dfa[:, 0], 0.0, atol=1e-6)
    assert len(RULE_LABELS) == 11


@pytest.mark.parametrize("name", NAMES)
def test_quick_figure_writes_results_and_png(name, tmp_path):
    _needs_data()
    summary = run_figure(name, quick=True, out_dir=tmp_path, progress=False)
    assert (tmp_path / f"{name}.png").stat().st_size > 0
    meta = json.loads((tmp_path / f"{name}_results.json").read_text())
    assert meta["figure"] == name and meta["quick"] is True
    assert summary["png"] == str(tmp_path / f"{name}.png")
    if name in ("kunin_mnist", "kunin_cifar10"):
        for rule in RULE_LABELS:
            value = summary[f"{rule}_depth2_test_accuracy"]
            assert np.isnan(value) or 0.0 <= value <= 1.0  # NaN: every learning rate diverged
        assert summary["bp_depth2_angle"] == 0.0
        assert summary["bp_depth2_test_accuracy"] > (0.5 if name == "kunin_mnist" else 0.15)  # above chance (0.1)
    if name == "kunin_transfer":
        for rule in ("kp", "sa", "aa", "wm", "ia"):
            gap = summary["bp_depth6_test_accuracy"] - summary[f"{rule}_depth6_test_accuracy"]
            assert summary[f"{rule}_depth6_gap"] == pytest.approx(gap)
    fig = replot(name, tmp_path / f"{name}_results", png=tmp_path / "again.png")
    assert fig.get_suptitle().startswith(("Kunin et al. 2020, Fig. ", "Kunin et al. 2020, Sec. "))  # the study and the panel
    assert (tmp_path / "again.png").stat().st_size > 0


def _toy_task():
    from bioplastic.tasks.base import DatasetTask

    rng = np.random.default_rng(1)
    x = rng.standard_normal((300, 6))
    labels = np.argmax(x @ rng.standard_normal((6, 3)), axis=1)
    return DatasetTask(x[:256], labels[:256], x[256:], labels[256:], n_classes=3, name="toy")


def test_train_tracked_resumes_from_its_checkpoint_as_an_uninterrupted_run(tmp_path):
    from bioplastic.figures.kunin2020.shared import network_for, train_tracked

    task = _toy_task()
    net = network_for(task, 2, width=8)
    fresh, fresh_angles = train_tracked(net, "kp", make_rule("kp"), task, n_epochs=3, learning_rate=[0.05, 0.1], seeds=0)
    train_tracked(net, "kp", make_rule("kp"), task, n_epochs=2, learning_rate=[0.05, 0.1], seeds=0, checkpoint=tmp_path / "ck")
    resumed, angles = train_tracked(net, "kp", make_rule("kp"), task, n_epochs=3, learning_rate=[0.05, 0.1], seeds=0,
                                    checkpoint=tmp_path / "ck")
    assert angles.shape == (3, 2, 2)
    np.testing.assert_array_equal(angles, fresh_angles)
    np.testing.assert_array_equal(resumed["test_accuracy"], fresh["test_accuracy"])
    again, again_angles = train_tracked(net, "kp", make_rule("kp"), task, n_epochs=3, learning_rate=[0.05, 0.1], seeds=0,
                                        checkpoint=tmp_path / "ck")  # complete: read back
    np.testing.assert_array_equal(again_angles, fresh_angles)
    np.testing.assert_array_equal(again["test_accuracy"], fresh["test_accuracy"])


@pytest.mark.parametrize("name", ["fa", "kp", "sa", "usf", "frsf"])
def test_angles_after_each_epoch_agree_with_the_feedback_angle_record(name):
    from bioplastic.figures.kunin2020.shared import network_for, train_tracked
    from bioplastic.training import FeedbackAngle

    task = _toy_task()
    history, angles = train_tracked(network_for(task, 2, width=8), name, make_rule(name), task, n_epochs=2, learning_rate=0.1,
                                    seeds=[0, 1], callbacks=[FeedbackAngle()])
    recorded = np.asarray(history["weight_angle"])  # (n_members, 1 + n_epochs, n_layers); projection 0: NaN
    np.testing.assert_allclose(angles, recorded[:, 1:, 1:].transpose(1, 0, 2), rtol=1e-4, atol=1e-3)
