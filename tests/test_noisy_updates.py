"""Noisy updates: Gaussian noise times the learning rate after every step, on weights, rule state or both."""

import numpy as np
import pytest

import bioplastic as bp
from bioplastic._random import rule_stream
from bioplastic.config import build_experiment, load_config
from bioplastic.engines.numpy import NumpyEngine
from bioplastic.io import load_arrays_and_metadata
from bioplastic.losses import SquaredError
from bioplastic.training.noisy_updates import UpdateNoise, update_noise_stream


@pytest.fixture(scope="module")
def task():
    return bp.tasks.NonlinearStudentTeacher(n_inputs=8, n_hidden=6, n_outputs=3, n_train=200, n_test=50, seed=1)


def _net():
    return bp.models.mlp((8, 12, 3), hidden="tanh")


def _train(task, rule=None, **kw):
    args = dict(n_epochs=3, learning_rate=[0.05, 0.1], seeds=[3, 4], batch_size=10, progress=False)
    args.update(kw)
    return bp.train(_net(), rule or bp.KolenPollack(), task, **args)


def _snapshot(engine):
    return [w.copy() for w in engine.state_.weights] + [b.copy() for b in engine.state_.biases], \
        {k: v.copy() for k, v in engine.rule_state_.items()}


@pytest.mark.parametrize("on", ["all", "weights", "rule_state"])
def test_the_added_noise_has_the_stated_variance_times_the_squared_learning_rate_on_the_chosen_parameters(on):
    net = bp.models.mlp((30, 40, 20, 5), hidden="tanh")
    rule = bp.SymmetricAlignment(beta=bp.plasticity.Schedule(value=2e-3, kind="linear", rate=-1e-3, total_steps=80))  # has a step counter
    engine = NumpyEngine(net, rule, SquaredError(), seeds=[0, 1, 2], batch_size=10)
    noise = UpdateNoise(bp.NoisyUpdates(variance=0.25, on=on), engine)
    (params, own) = _snapshot(engine)
    lr = np.array([0.1, 0.0, 2.0])  # member 1 frozen: no noise
    noise.apply(lr)
    after, own_after = _snapshot(engine)
    np.testing.assert_array_equal(own_after["step"], own["step"])
    changes = [a - b for a, b in zip(after, params, strict=True)]
    changes_own = [own_after[k] - own[k] for k in ("B1", "B2")]
    for unchanged in (changes_own if on == "weights" else []) + (changes if on == "rule_state" else []):
        assert not np.any(unchanged)
    noisy = (changes if on != "rule_state" else []) + (changes_own if on != "weights" else [])
    for i in range(3):
        z = np.concatenate([c[i].ravel() for c in noisy])
        if lr[i] == 0:
            assert not np.any(z)
            continue
        z = z / lr[i]
        n = z.size
        # sample variance ~ N(0.25, 2 sigma^4 / n): 5 standard errors; mean ~ N(0, sigma^2 / n)
        assert abs(z.var() - 0.25) < 5 * 0.25 * np.sqrt(2 / n), (n, z.var())
        assert abs(z.mean()) < 5 * 0.5 / np.sqrt(n)


def test_the_noise_on_fixed_feedback_is_the_sum_of_the_members_stream_times_the_learning_rate(task, tmp_path):
    """FA's B changes only by the noise: B_T = B_0 + sum_t eta sqrt(v) z_t, z_t from the fourth child of SeedSequence(seed)."""
    checkpoint = tmp_path / "run.checkpoint"
    history = _train(task, bp.FeedbackAlignment(), update_noise=bp.NoisyUpdates(variance=0.09, on="rule_state"), n_epochs=2,
                     checkpoint=checkpoint)
    arrays, _ = load_arrays_and_metadata(checkpoint)
    n_steps = 2 * task.n_batches(10)
    for i, (lr, seed) in enumerate(zip(history.learning_rates, history.seeds, strict=True)):
        b = bp.FeedbackAlignment().init_rule_state(_net(), rule_stream(int(seed)), np.float64)["B1"]
        rng = update_noise_stream(int(seed))
        for _ in range(n_steps):
            b += lr * 0.3 * rng.standard_normal(b.shape)
        np.testing.assert_array_equal(arrays["state_run_rule/B1"][i], b)


def test_zero_variance_is_bit_identical_to_no_noisy_updates(task):
    plain = _train(task)
    zero = _train(task, update_noise=bp.NoisyUpdates(variance=0.0, on="all"))
    noisy = _train(task, update_noise={"variance": 1e-2, "on": "weights"})
    for key in plain.records:
        np.testing.assert_array_equal(plain.records[key], zero.records[key])
    for a, b in zip(plain.final_state_.weights, zero.final_state_.weights, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(plain.records["test_error"], noisy.records["test_error"])
    assert noisy.config["update_noise"] == {"variance": 1e-2, "on": "weights"} and "update_noise" not in plain.config


def test_member_equals_solo_and_checkpoint_resume_equals_the_uninterrupted_run(task, tmp_path):
    noise = bp.NoisyUpdates(variance=1e-2, on="all")
    ensemble = _train(task, update_noise=noise, learning_rate=[0.05, 0.1], seeds=[3, 3, 4])
    solo = _train(task, update_noise=noise, learning_rate=[ensemble.learning_rates[4]], seeds=[int(ensemble.seeds[4])])
    np.testing.assert_array_equal(ensemble.records["test_error"][4], solo.records["test_error"][0])
    full = _train(task, update_noise=noise, n_epochs=4)
    checkpoint = tmp_path / "run.checkpoint"
    _train(task, update_noise=noise, n_epochs=2, checkpoint=checkpoint, checkpoint_every=1)
    resumed = _train(task, update_noise=noise, n_epochs=4, checkpoint=checkpoint, checkpoint_every=1)
    for key in full.records:
        np.testing.assert_array_equal(full.records[key], resumed.records[key])
    for a, b in zip(full.final_state_.weights, resumed.final_state_.weights, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(bp.training.CheckpointMismatchError, match="differs in: update_noise"):
        _train(task, update_noise=bp.NoisyUpdates(variance=2e-2), n_epochs=4, checkpoint=checkpoint)


def test_the_configuration_file_key_builds_the_noisy_updates(task, tmp_path):
    path = tmp_path / "noisy.toml"
    path.write_text('[network]\nsizes = [8, 12, 3]\nhidden = "tanh"\n'
                    '[task]\nname = "student_teacher"\nn_inputs = 8\nn_hidden = 6\nn_outputs = 3\nn_train = 200\nn_test = 50\nseed = 1\n'
                    '[rule]\nname = "kolen_pollack"\n'
                    '[training]\nn_epochs = 2\nlearning_rate = [0.05, 0.1]\nseeds = [3, 4]\nbatch_size = 10\n'
                    'update_noise = {variance = 0.01, on = "rule_state"}\n')
    network, rule, built_task, homeostasis, training = build_experiment(load_config(path))
    assert training["update_noise"] == {"variance": 0.01, "on": "rule_state"}
    from_file = bp.train(network, rule, built_task, progress=False, **training)
    direct = _train(task, n_epochs=2, update_noise=bp.NoisyUpdates(variance=0.01, on="rule_state"))
    np.testing.assert_array_equal(from_file.records["test_error"], direct.records["test_error"])


def test_bad_noisy_updates_are_refused_with_the_value_and_what_is_expected(task):
    with pytest.raises(ValueError, match="variance"):
        bp.NoisyUpdates(variance=-1.0)
    with pytest.raises(ValueError, match="'everything'"):
        bp.NoisyUpdates(variance=1.0, on="everything")
    with pytest.raises(ValueError, match=r"update_noise takes the keys \['on', 'variance'\], got unknown \['std'\]"):
        _train(task, update_noise={"std": 1.0})
    with pytest.raises(ValueError, match="update_noise needs a 'variance'"):
        _train(task, update_noise={"on": "weights"})
    with pytest.raises(TypeError, match="update_noise should be a NoisyUpdates"):
        _train(task, update_noise=0.1)
