"""The presynaptic noise channel (per-sample noise inputs of width n_pre) and the weight mirror on it."""

import numpy as np
import pytest

import bioplastic as bp
from bioplastic.engines.numpy import NoiseBuffer, NumpyEngine
from bioplastic.losses import SquaredError
from bioplastic.network import Network
from bioplastic.neurons import Population
from bioplastic.ops import draw_noise
from bioplastic.plasticity import NoiseNeeds, WeightMirror
from bioplastic.synapses import Projection


def test_noise_needs_default_to_no_presynaptic_noise_and_count_it_in_any():
    assert NoiseNeeds((False,), (False,)).presynaptic == () and not NoiseNeeds((False,), (False,)).any
    assert NoiseNeeds((False, False), (False, False), (False, True)).any
    net = bp.models.mlp((5, 7, 6, 3), hidden="tanh")
    assert WeightMirror().noise_needs(net) == NoiseNeeds((False,) * 3, (False, True, True))
    assert WeightMirror(noise_inputs="presynaptic").noise_needs(net) == NoiseNeeds((False,) * 3, (False,) * 3, (False, True, True))
    with pytest.raises(ValueError, match="noise_inputs"):
        WeightMirror(noise_inputs="postsynaptic")


def test_the_presynaptic_channel_comes_after_the_others_and_draws_batch_by_n_pre_gaussians():
    buffer = NoiseBuffer([np.random.default_rng(0)], [4, None], ["gaussian", None], 3, np.float64, prefetch=False,
                         synaptic_shapes=[None, (2, 5)], presynaptic_widths=[None, 7])
    buffer.start_epoch(4)
    steps = [buffer.next() for _ in range(4)]
    rng = np.random.default_rng(0)  # one chunk of 4 steps: channel by channel
    population, synaptic, presynaptic = (draw_noise(rng, "gaussian", shape) for shape in ((4, 3, 4), (4, 2, 5), (4, 3, 7)))
    for t, channels in enumerate(steps):
        assert len(channels) == 6 and channels[1] is None and channels[2] is None and channels[4] is None
        np.testing.assert_array_equal(channels[0][0], population[t])
        np.testing.assert_array_equal(channels[3][0], synaptic[t])
        np.testing.assert_array_equal(channels[5][0], presynaptic[t])


def test_weight_mirror_on_presynaptic_noise_takes_the_alignment_gradient_on_one_noise_input_per_sample():
    net = bp.models.mlp((5, 7, 6, 3), hidden="tanh")
    state = net.init_state([0, 1])
    rng = np.random.default_rng(1)
    x, target = rng.standard_normal((4, 5)), rng.standard_normal((4, 3))
    rule = WeightMirror(alpha=0.3, beta=0.2, noise_std=2.0, noise_inputs="presynaptic")
    rule_state = {k: np.stack([v, v]) for k, v in rule.init_rule_state(net, rng, np.float64).items()}
    noise = [None] + [rng.standard_normal((2, 4, p.n_pre)) for p in net.projections[1:]]
    scale = np.array([-0.5, -2.0])
    directions = rule.directions(net, state, x, target, SquaredError(), rule_state=rule_state, presynaptic_noise=noise, scale=scale)
    for k in (1, 2):
        for e in range(2):
            w, b = state.weights[k][e], rule_state[f"B{k}"][e]
            inputs = 2.0 * noise[k][e]
            expected = 0.3 * 2 * b - 0.2 * sum(np.outer(s, w @ s) for s in inputs) / len(inputs)  # decay + amp, sample by sample
            np.testing.assert_allclose(directions.state[f"B{k}"][e], scale[e] * expected, rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match=r"WeightMirror\(.*noise_inputs='presynaptic'.*\)\.directions needs presynaptic noise"):
        rule.directions(net, state, x, target, SquaredError(), rule_state=rule_state, synaptic_noise=noise)


def test_weight_mirror_on_presynaptic_noise_converges_to_beta_s2_over_2_alpha_times_w_transposed():
    """x ~ N(0, s^2 I), batch noise inputs a step: the time average of B over T steps misses B* by about sqrt(n_pre / batch / T)."""
    alpha, beta, s = 0.25, 0.5, 2.0
    fixed = [Projection(6, 10, plastic=False), Projection(10, 30, plastic=False)]
    net = Network([Population(6), Population(10, activation="tanh"), Population(30)], projections=fixed)
    engine = NumpyEngine(net, WeightMirror(alpha=alpha, beta=beta, noise_std=s, noise_inputs="presynaptic"), SquaredError(),
                         seeds=[0, 1], batch_size=50)
    x, target = np.ones((50, 6)), np.zeros((50, 30))
    n_steps, burn_in, eta = 600, 200, 0.1
    engine.start_epoch(n_steps)
    mean = 0.0
    for i in range(n_steps):
        engine.step(x, target, np.full(2, eta))
        if i >= burn_in:
            mean = mean + engine.rule_state_["B1"] / (n_steps - burn_in)
    expected = beta * s**2 / (2 * alpha) * engine.state_.weights[1].transpose(0, 2, 1)
    relative = np.linalg.norm(mean - expected, axis=(1, 2)) / np.linalg.norm(expected, axis=(1, 2))
    assert np.all(relative < 0.05), relative  # about sqrt(10 / 50 / 400) = 0.022


def test_weight_mirror_on_presynaptic_noise_trains_member_equals_solo_and_resumes(tmp_path):
    task = bp.tasks.NonlinearStudentTeacher(n_inputs=8, n_hidden=6, n_outputs=3, n_train=200, n_test=50, seed=1)
    rule = WeightMirror(noise_inputs="presynaptic")
    kw = dict(batch_size=10, progress=False, callbacks=[bp.FeedbackAngle(), bp.UpdateAngle(batch_size=20)])
    net = bp.models.mlp((8, 12, 10, 3), hidden="tanh")
    full = bp.train(net, rule, task, n_epochs=4, learning_rate=[0.05, 0.1], seeds=[3, 4], **kw)
    assert np.all(full.records["test_error"][:, -1] < full.records["test_error"][:, 0])
    assert np.all(np.isfinite(full.records["update_angle"])) and np.all(np.isfinite(full.records["weight_angle"][:, :, 1:]))
    solo = bp.train(net, rule, task, n_epochs=4, learning_rate=[full.learning_rates[3]], seeds=[int(full.seeds[3])], **kw)
    np.testing.assert_array_equal(full.records["test_error"][3], solo.records["test_error"][0])
    checkpoint = tmp_path / "run.checkpoint"
    bp.train(net, rule, task, n_epochs=2, learning_rate=[0.05, 0.1], seeds=[3, 4], checkpoint=checkpoint, **kw)
    resumed = bp.train(net, rule, task, n_epochs=4, learning_rate=[0.05, 0.1], seeds=[3, 4], checkpoint=checkpoint, **kw)
    for key in full.records:
        np.testing.assert_array_equal(full.records[key], resumed.records[key])
