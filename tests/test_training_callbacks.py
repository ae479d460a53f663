"""Training callbacks: alignment records (feedback angle, update angle vs backprop), kept in History, checkpoints and resume."""

import numpy as np
import pytest

import bioplastic as bp
from bioplastic._random import rule_stream
from bioplastic.engines.numpy import NumpyEngine
from bioplastic.losses import SquaredError
from bioplastic.plasticity import get_rule
from bioplastic.training import run_ensemble
from bioplastic.training.callbacks import Callback


@pytest.fixture(scope="module")
def task():
    return bp.tasks.NonlinearStudentTeacher(n_inputs=8, n_hidden=6, n_outputs=3, n_train=200, n_test=50, seed=1)


def _net():
    return bp.models.mlp((8, 12, 10, 3), hidden="tanh")


def _train(task, rule, **kw):
    args = dict(n_epochs=3, learning_rate=[0.05, 0.1], seeds=[3, 4], batch_size=10, progress=False,
                callbacks=[bp.FeedbackAngle(), bp.UpdateAngle(batch_size=20)])
    args.update(kw)
    return bp.train(_net(), rule, task, **args)


def _naive_angle(a, b):
    a, b = a.ravel(), b.ravel()
    return np.degrees(np.arccos(np.clip(a @ b / np.sqrt((a @ a) * (b @ b)), -1, 1)))


def test_weight_angle_of_feedback_alignment_is_the_naive_angle_between_w_and_b_transposed(task):
    history = _train(task, bp.FeedbackAlignment())
    angles = history.records["weight_angle"]
    assert angles.shape == (4, 4, 3)
    assert np.all(np.isnan(angles[:, :, 0])) and np.all(np.isfinite(angles[:, :, 1:]))
    net = _net()
    for i, seed in enumerate(history.seeds):
        b = bp.FeedbackAlignment().init_rule_state(net, rule_stream(int(seed)), np.float64)  # fixed feedback
        for k in (1, 2):
            expected = _naive_angle(history.final_state_.weights[k][i], b[f"B{k}"].T)
            assert angles[i, -1, k] == pytest.approx(expected, rel=1e-12)
    assert np.all((angles[:, :, 1:] > 30) & (angles[:, :, 1:] < 150))  # random feedback: far from W^T


def _engine(rule, seeds=(0, 1), net=None):
    return NumpyEngine(net or _net(), rule, SquaredError(), seeds=list(seeds), batch_size=10)


def test_weight_angle_and_update_angle_vanish_for_feedback_equal_to_w_transposed(task):
    engine = _engine(bp.FeedbackAlignment())
    for k in (1, 2):
        engine.rule_state_[f"B{k}"][...] = np.swapaxes(engine.state_.weights[k], 1, 2) * np.array([1.0, 3.0])[:, None, None]
    weight = bp.FeedbackAngle().measure(engine, task)["weight_angle"]
    update = bp.UpdateAngle(batch_size=20).measure(engine, task)["update_angle"]
    np.testing.assert_allclose(weight[:, 1:], 0, atol=1e-5)
    np.testing.assert_allclose(update, 0, atol=1e-5)
    engine.rule_state_["B1"] *= -1  # B = -W^T: opposite pathway
    np.testing.assert_allclose(bp.FeedbackAngle().measure(engine, task)["weight_angle"][:, 1], 180, atol=1e-5)


def test_update_angle_of_backprop_is_zero_and_its_weight_angle_undefined(task):
    history = _train(task, bp.Backprop())
    np.testing.assert_allclose(history.records["update_angle"], 0, atol=1e-5)
    assert np.all(np.isnan(history.records["weight_angle"]))


def test_update_angle_is_the_naive_angle_on_the_probe_minibatch(task):
    engine = _engine(bp.FeedbackAlignment())
    callback = bp.UpdateAngle(batch_size=20, seed=5)
    got = callback.measure(engine, task)["update_angle"]
    x, target = next(iter(task.batches(20, np.random.default_rng(5))))
    fa = bp.FeedbackAlignment().directions(engine.network, engine.state_, x, target, SquaredError(), rule_state=engine.rule_state_)
    ref = bp.Backprop().directions(engine.network, engine.state_, x, target, SquaredError())
    for i in range(2):
        for k in range(3):
            assert got[i, k] == pytest.approx(_naive_angle(fa.weights[k][i], ref.weights[k][i]), abs=1e-9)
    assert got[0, 2] == pytest.approx(0, abs=1e-5)  # the readout's update is backprop's
    assert np.all(got[:, :2] > 1)  # hidden layers: errors through random feedback


def test_direct_feedback_angle_compares_d_with_the_forward_path_it_replaces(task):
    engine = _engine(bp.DirectFeedbackAlignment())
    got = bp.FeedbackAngle().measure(engine, task)["weight_angle"]
    w, d = engine.state_.weights, engine.rule_state_
    for i in range(2):
        assert got[i, 2] == pytest.approx(_naive_angle(w[2][i], d["D1"][i].T), rel=1e-12)
        assert got[i, 1] == pytest.approx(_naive_angle(w[2][i] @ w[1][i], d["D0"][i].T), rel=1e-12)
    assert np.all(np.isnan(got[:, 0]))
    one_hidden = bp.models.mlp((8, 12, 3), hidden="tanh")  # there DFA is FA with the same draws, and so is the angle
    dfa = bp.FeedbackAngle().measure(_engine(bp.DirectFeedbackAlignment(), net=one_hidden), task)["weight_angle"]
    fa = bp.FeedbackAngle().measure(_engine(bp.FeedbackAlignment(), net=one_hidden), task)["weight_angle"]
    np.testing.assert_array_equal(dfa, fa)


@pytest.mark.parametrize("name", ["sign_symmetry", "symmetric_alignment", "weight_mirror", "node_perturbation"])
def test_callbacks_read_the_run_without_changing_it(task, name):
    params = {"sign_symmetry": {"magnitude": "brsf"}, "node_perturbation": {"sigma": 1e-3},
              "symmetric_alignment": {"beta": bp.plasticity.Schedule(value=2e-3, kind="linear", rate=-1e-3, total_steps=80)}}
    rule = get_rule(name, **params.get(name, {}))
    plain = _train(task, rule, callbacks=None, learning_rate=[0.02])
    measured = _train(task, rule, learning_rate=[0.02])
    assert set(measured.records) == set(plain.records) | {"weight_angle", "update_angle"}
    for key in plain.records:
        np.testing.assert_array_equal(plain.records[key], measured.records[key])
    assert measured.records["update_angle"].shape == (2, 4, 3)
    assert np.all(np.isfinite(measured.records["update_angle"]))
    if name == "sign_symmetry":  # B = |psi| o sign(W)^T: every entry of B has W's sign
        assert np.all(measured.records["weight_angle"][:, :, 1:] < 90)


def test_records_survive_save_load_and_checkpoint_resume(task, tmp_path):
    rule = bp.KolenPollack(decay=1e-3)
    full = _train(task, rule, n_epochs=4)
    checkpoint = tmp_path / "run.checkpoint"
    _train(task, rule, n_epochs=2, checkpoint=checkpoint, checkpoint_every=1)
    resumed = _train(task, rule, n_epochs=4, checkpoint=checkpoint, checkpoint_every=1)
    assert set(full.records) == set(resumed.records)
    for key in full.records:
        np.testing.assert_array_equal(full.records[key], resumed.records[key])
    angles = full.records["weight_angle"][:, :, 1:]
    assert np.all(angles[:, -1] < angles[:, 0] - 5), angles  # KP: B aligns with W^T as it learns
    full.save(tmp_path / "result")
    loaded = bp.History.load(tmp_path / "result")
    for key in ("weight_angle", "update_angle"):
        np.testing.assert_array_equal(loaded.records[key], full.records[key])
    assert full.config["callbacks"] == [{"name": "feedback_angle", "seed": 0}, {"name": "update_angle", "batch_size": 20, "seed": 0}]
    with pytest.raises(bp.training.CheckpointMismatchError, match="differs in: callbacks"):
        _train(task, rule, n_epochs=4, checkpoint=checkpoint, callbacks=None)


def test_diverged_members_get_nan_records(task):
    history = _train(task, bp.FeedbackAlignment(), learning_rate=[0.05, 1e4], seeds=[3], n_epochs=2)
    assert history.diverged_epoch.tolist() == [-1, 1]
    # as every record: kept at the epoch of divergence, NaN after it
    assert np.all(np.isnan(history.records["weight_angle"][1, 2:]))
    assert np.all(np.isnan(history.records["update_angle"][1, 2:])) and np.all(np.isfinite(history.records["update_angle"][0]))


class _Counter(Callback):
    name = "counter"

    def __init__(self, *, key="count"):
        self.key = key

    def measure(self, engine, task):
        return {self.key: np.array([np.sum(w) for w in engine.state_.weights[0]])}


def test_a_custom_callback_records_through_run_ensemble_and_bad_records_are_refused(task):
    history = _train(task, bp.Backprop(), callbacks=[_Counter()], learning_rate=[0.05], seeds=[1, 2])
    assert history.records["count"].shape == (2, 4)
    np.testing.assert_allclose(history.records["count"][:, -1], history.final_state_.weights[0].sum(axis=(1, 2)))
    with pytest.raises(ValueError, match=r"records 'train_error', which the run already records"):
        _train(task, bp.Backprop(), callbacks=[_Counter(key="train_error")])
    with pytest.raises(TypeError, match=r"a callback needs a method measure\(engine, task\), got 3"):
        _train(task, bp.Backprop(), callbacks=[3])

    class Runner:  # a runner without callback_inputs takes no callbacks
        n_members = 1

    with pytest.raises(TypeError, match="Runner takes no callbacks"):
        run_ensemble(Runner(), stops=[1], config={}, learning_rates=[0.1], callbacks=[_Counter()], progress=False)


def test_weight_angle_of_a_kernel_compares_it_with_its_kernel_shaped_feedback(task):
    # non-square kernels (2 x 3): a transposed comparison would not even have the kernel's shape
    net = bp.models.cnn((1, 4, 6), [dict(out_channels=2, kernel_size=(2, 3)), dict(out_channels=3, kernel_size=(2, 3))], 3, hidden="tanh")
    engine = _engine(bp.FeedbackAlignment(), net=net)
    engine.rule_state_["B1"][...] = engine.state_.weights[1] * np.array([1.0, 2.0])[:, None, None, None, None]
    rng = np.random.default_rng(0)
    engine.rule_state_["B1"][1] += 0.3 * rng.standard_normal(engine.rule_state_["B1"][1].shape)
    x = bp.tasks.base.DatasetTask(rng.standard_normal((20, 24)), rng.integers(0, 3, 20), rng.standard_normal((10, 24)),
                                  rng.integers(0, 3, 10), n_classes=3, name="maps")
    angles = bp.FeedbackAngle().measure(engine, x)["weight_angle"]
    assert angles[0, 1] == pytest.approx(0, abs=1e-5)
    assert angles[1, 1] == pytest.approx(_naive_angle(engine.state_.weights[1][1], engine.rule_state_["B1"][1]), rel=1e-12)
    assert angles[1, 1] > 5
    dfa = bp.FeedbackAngle().measure(_engine(bp.DirectFeedbackAlignment(), net=net), x)["weight_angle"]
    assert np.isnan(dfa[:, 1]).all() and np.isfinite(dfa[:, 2]).all()  # the path from layer 1 runs through a kernel
