"""Tests of the continuous-time Brian2 engine (:mod:`bioplastic.engines.brian2`).

Everything runs on Brian2's numpy code-generation target except one small
network compiled with cython (skipped with the reason when compilation is not
possible). Trials are short (a few ms of simulated time at dt = 0.25-0.5 ms):
the point is the engine's dynamics and bookkeeping, which are the same at any
size.

Measured with these settings (numbers quoted in the assertions' comments):

* equivalence (4-8-2 tanh network, 8 samples, 1200 trials, white noise,
  tau = 1 ms, 8 ms trials with a 4 ms readout window): cosine similarity of the
  mean Brian2 update with the true negative gradient 0.986 (per layer 0.983,
  0.999) and with the numpy engine's NP update 0.986, magnitude 0.93 of the
  gradient's;
* learning: student-teacher (10-20-3) test error -90 % in 1000 trials; SARCOS
  (21-16-7, standardised, test-file split) -75 % in 1000 trials.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bioplastic import Network, Population, Projection, SquaredError, SynapticScaling, models
from bioplastic.analysis import cosine_similarity
from bioplastic.engines.brian2 import Brian2Engine, eligibility_time
from bioplastic.engines.brian2._runtime import import_brian2
from bioplastic.engines.numpy import NumpyEngine, forward
from bioplastic.homeostasis import incoming_rms
from bioplastic.plasticity import Backprop, NodePerturbation, NoiseNeeds, WeightPerturbation
from bioplastic.tasks import DatasetTask, NonlinearStudentTeacher

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = os.environ.get("BIOPLASTIC_DATA_DIR", "")

# fast-dynamics settings: tau = 1 ms much shorter than the 8 ms trial
FAST = {"tau": 1e-3, "dt": 2.5e-4, "trial_duration": 8e-3, "readout_window": 4e-3}
# coarser settings for learning runs (exact exponential updates keep dt = tau / 2 accurate)
COARSE = {"tau": 1e-3, "dt": 5e-4, "trial_duration": 6e-3, "readout_window": 3e-3}


def _flat(arrays):
    return np.concatenate([a.reshape(len(a), -1) for a in arrays if a is not None], axis=1)


def _small_problem(seed=1, n_samples=8):
    task = NonlinearStudentTeacher(n_inputs=4, n_hidden=6, n_outputs=2, n_train=n_samples, n_test=8, seed=seed)
    return models.mlp((4, 8, 2), hidden="tanh"), task.x_train, task.y_train


def _numpy_np_update(network, state, x, y, sigma, learning_rate, n_draws=20000, seed=0):
    """The numpy engine's NP update averaged over many noise draws (its expectation, to ~1 %)."""
    reps = n_draws // len(x)
    xr, yr = np.tile(x, (reps, 1)), np.tile(y, (reps, 1))
    rng = np.random.default_rng(seed)
    noise = [rng.standard_normal((1, len(xr), pop.n_neurons)) for pop in network.populations[1:]]
    return NodePerturbation(sigma=sigma).compute_updates(network, state, xr, yr, SquaredError(), noise=noise,
                                                         scale=np.array([learning_rate]))


def _check_equivalence(engine, network, x, y, n_trials, *, per_layer, overall, ratio):
    """Mean Brian2 update at fixed weights vs the true gradient and the numpy engine's NP update."""
    grads, grad_b = Backprop().gradients(network, engine.state_, x, y, SquaredError())
    update = engine.mean_update(x, y, n_trials)
    reference = _numpy_np_update(network, engine.state_, x, y, engine.sigma_, engine.learning_rate_)
    for k in range(network.n_layers):
        assert cosine_similarity(update.weights[k], -grads[k])[0] > per_layer, k
    brian = _flat(update.weights + update.biases)
    assert cosine_similarity(brian, -_flat(list(grads) + list(grad_b)))[0] > overall
    assert cosine_similarity(brian, _flat(reference.weights + reference.biases))[0] > overall
    magnitude = np.linalg.norm(_flat(update.weights)) / (engine.learning_rate_ * np.linalg.norm(_flat(grads)))
    assert ratio[0] < magnitude < ratio[1]
    # the numpy reference itself is the gradient (NP is unbiased to first order in sigma)
    assert cosine_similarity(_flat(reference.weights), -_flat(grads))[0] > 0.99


# --------------------------------------------------------------------------- noise
@pytest.mark.parametrize("noise", ["white", "ou"])
def test_noise_variance_does_not_depend_on_dt(noise):
    """Stationary noise variance is sigma**2 at dt = 0.05 ms and 0.2 ms (tolerance 6 %, sampling error ~2 %)."""
    sigma, tau, noise_tau = 0.2, 1e-3, 2e-3
    net = Network([Population(1, noise=None), Population(200)], projections=[Projection(1, 200, init="zeros", bias=False)])
    variances = {}
    for dt in (5e-5, 2e-4):
        kw = {"noise_tau": noise_tau} if noise == "ou" else {}
        engine = Brian2Engine(net, NodePerturbation(sigma=sigma), noise=noise, tau=tau, dt=dt, trial_duration=1e-2, **kw)
        record = engine.run_trials(np.zeros((20, 1)), np.zeros((20, 200)), learn=False, record=True)
        n = record.noise[1][len(record.t) // 10 :]
        rate = record.rates[1][len(record.t) // 10 :]  # linear unit with zero input: the membrane potential
        variances[dt] = (n.var(), rate.var())
        # white noise: v = u + n with u = 0; OU: v is the noise current low-passed by the membrane
        expected_v = sigma**2 if noise == "white" else sigma**2 * noise_tau / (noise_tau + tau)
        assert n.var() == pytest.approx(sigma**2, rel=0.06)
        assert rate.var() == pytest.approx(expected_v, rel=0.06)
    (n1, v1), (n2, v2) = variances.values()
    assert n1 / n2 == pytest.approx(1, abs=0.06)
    assert v1 / v2 == pytest.approx(1, abs=0.06)


def test_eligibility_time_closed_form():
    # small dt: 2 tau_c (1 - (tau_c / T)(1 - exp(-T / tau_c)))
    tc, window = 2e-3, 5e-3
    continuous = 2 * tc * (1 - tc / window * (1 - np.exp(-window / tc)))
    assert eligibility_time(tc, window, 1e-7) == pytest.approx(continuous, rel=1e-4)
    # direct double sum for a coarse grid
    dt = 1e-3
    a = np.exp(-dt / tc)
    m = 5
    direct = dt / m * sum(a ** abs(k - j) for k in range(m) for j in range(m))
    assert eligibility_time(tc, window, dt) == pytest.approx(direct, rel=1e-12)
    # the held mean's correlation with the window is removed for activity deviations
    assert eligibility_time(tc, window, 1e-7, mean_tau=3e-3) == pytest.approx(
        continuous - tc**2 * (1 - np.exp(-window / tc)) / (tc + 3e-3), rel=1e-4)


# --------------------------------------------------------------------------- equivalence
def test_mean_update_matches_gradient_and_numpy_np():
    """1200 trials (150 per sample) at fixed weights: cosine > 0.9 with -grad and with numpy NP (measured 0.986)."""
    net, x, y = _small_problem()
    engine = Brian2Engine(net, NodePerturbation(sigma=1e-3), seed=1, **FAST)
    assert engine.state_.weights[0].shape == (1, 8, 4)
    _check_equivalence(engine, net, x, y, 1200, per_layer=0.9, overall=0.9, ratio=(0.75, 1.25))
    # at fixed weights nothing changed
    np.testing.assert_array_equal(engine.get_weights().weights[0], net.init_state([1]).weights[0])


def test_mean_update_ou_noise():
    """OU noise (noise_tau = 5 tau), 800 trials: cosine 0.96; magnitude 0.88 (membrane filtering, O(tau / noise_tau))."""
    net, x, y = _small_problem(seed=2)
    engine = Brian2Engine(net, NodePerturbation(sigma=1e-3), noise="ou", noise_tau=5e-3, seed=2, **FAST)
    _check_equivalence(engine, net, x, y, 800, per_layer=0.85, overall=0.9, ratio=(0.7, 1.1))


def test_mean_update_running_average_baseline():
    """Running-average baseline on one repeated sample (baseline = reward prediction): 400 trials, cosine ~0.99."""
    net, x, y = _small_problem(seed=3, n_samples=1)
    engine = Brian2Engine(net, NodePerturbation(sigma=0.01), baseline="running_average", seed=3, **FAST)
    _check_equivalence(engine, net, x, y, 400, per_layer=0.9, overall=0.9, ratio=(0.75, 1.25))
    # the baseline has converged to the sample's loss
    loss = SquaredError()(engine.predict(x), y[None])[0, 0]
    assert engine.reward_baseline_ == pytest.approx(loss, rel=0.05)


def test_baseline_comes_from_the_rule():
    """The rule's neuromodulator sets the engine's baseline; the engine's arguments override it."""
    from bioplastic.neuromodulation import Neuromodulator

    net, _, _ = _small_problem(seed=3, n_samples=1)
    rule = NodePerturbation(sigma=0.01, neuromodulator=Neuromodulator(baseline="running_average", decay=0.7))
    engine = Brian2Engine(net, rule, seed=3, **FAST)
    assert (engine.baseline_, engine.baseline_decay_) == ("running_average", 0.7)
    engine = Brian2Engine(net, rule, baseline="clean", seed=3, **FAST)
    assert engine.baseline_ == "clean"


def test_mean_update_activity_deviation():
    """Eligibility from the rate's deviation from its held recent mean (1600 trials).

    Each layer's mean update points along its gradient (measured 0.94 / 0.995);
    the output layer's deviation also carries upstream noise, which enlarges
    its step (magnitude ratio ~1.5), so the all-layer cosine is lower (~0.82).
    """
    net, x, y = _small_problem(seed=1)
    engine = Brian2Engine(net, NodePerturbation(sigma=0.05), eligibility="activity_deviation", mean_tau=2e-3, tau=1e-3,
                          dt=5e-4, trial_duration=16e-3, readout_window=4e-3, seed=1)
    assert engine.eligibility_time_ < eligibility_time(1e-3, 4e-3, 5e-4)
    _check_equivalence(engine, net, x, y, 1600, per_layer=0.85, overall=0.75, ratio=(0.8, 2.0))


# --------------------------------------------------------------------------- learning
def test_learns_student_teacher_with_scaling():
    """Clean baseline, noise eligibility, synaptic scaling: test error -90 % in 1000 trials (asserted: > 70 %)."""
    task = NonlinearStudentTeacher(n_inputs=10, n_hidden=10, n_outputs=3, n_train=1000, n_test=500, seed=0)
    net = models.mlp((10, 20, 3), hidden="tanh")
    engine = Brian2Engine(net, NodePerturbation(sigma=1e-3), homeostasis=SynapticScaling(), learning_rate=3e-3, **COARSE)
    history = engine.train(task, 1000, eval_every=250)
    error = history["test_error"][0]
    assert history.epochs.tolist() == [0, 250, 500, 750, 1000]
    assert history.config["epoch_unit"] == "trials"
    assert error[-1] < 0.3 * error[0]
    assert history.trial_loss_.shape == (1000,)
    # synaptic scaling keeps every neuron's incoming RMS at its initial value
    for k in range(net.n_layers):
        np.testing.assert_allclose(incoming_rms(engine.state_.weights[k]), engine.scaling_targets_[k], rtol=1e-12)
    assert not np.allclose(engine.state_.weights[0], net.init_state([0]).weights[0])


def test_learns_with_running_average_baseline():
    """Running-average baseline (no second network): test error reduced by > 50 % in 1000 trials at sigma = 0.3."""
    task = NonlinearStudentTeacher(n_inputs=10, n_hidden=10, n_outputs=3, n_train=1000, n_test=500, seed=0)
    net = models.mlp((10, 20, 3), hidden="tanh")
    engine = Brian2Engine(net, NodePerturbation(sigma=0.3), baseline="running_average", learning_rate=3e-3, **COARSE)
    error = engine.train(task, 1000, eval_every=500)["test_error"][0]
    assert error[-1] < 0.5 * error[0]


def test_learns_with_activity_deviation():
    """Activity-deviation eligibility: test error reduced by > 50 % in 600 trials."""
    task = NonlinearStudentTeacher(n_inputs=10, n_hidden=10, n_outputs=3, n_train=1000, n_test=500, seed=0)
    net = models.mlp((10, 20, 3), hidden="tanh")
    engine = Brian2Engine(net, NodePerturbation(sigma=0.05), eligibility="activity_deviation", mean_tau=2e-3,
                          learning_rate=3e-3, tau=1e-3, dt=5e-4, trial_duration=12e-3, readout_window=3e-3)
    error = engine.train(task, 600, eval_every=600)["test_error"][0]
    assert error[-1] < 0.5 * error[0]


def test_learns_sarcos():
    """SARCOS (test-file split, standardised), 21-16-7: test error -75 % in 1000 trials (asserted: > 50 %)."""
    if not DATA_DIR:
        pytest.skip("BIOPLASTIC_DATA_DIR not set: the SARCOS test needs the local data directory")
    from bioplastic.tasks.sarcos import load_sarcos

    d = load_sarcos(DATA_DIR, split="test_file_only", download=False)
    mx, sx = d["x_train"].mean(0), d["x_train"].std(0)
    my, sy = d["y_train"].mean(0), d["y_train"].std(0)
    task = DatasetTask((d["x_train"] - mx) / sx, (d["y_train"] - my) / sy, (d["x_test"] - mx) / sx, (d["y_test"] - my) / sy,
                       name="sarcos")
    net = models.mlp((21, 16, 7), hidden="tanh")
    engine = Brian2Engine(net, NodePerturbation(sigma=1e-3), homeostasis=SynapticScaling(), learning_rate=3e-3, **COARSE)
    error = engine.train(task, 1000, eval_every=500)["test_error"][0]
    assert error[-1] < 0.5 * error[0]


def test_training_freezes_a_diverging_run():
    """Training runs in the one loop: a run whose error passes 1e3 x its initial value is flagged and put back, not run on."""
    task = NonlinearStudentTeacher(n_inputs=3, n_hidden=3, n_outputs=2, n_train=20, n_test=10, seed=0)
    net = models.mlp((3, 4, 2), hidden="tanh")
    engine = Brian2Engine(net, NodePerturbation(sigma=0.3), learning_rate=300.0, seed=2, **COARSE)
    initial = engine.get_weights()
    history = engine.train(task, 30, eval_every=10)
    error = history["train_error"][0]
    assert history.epochs.tolist() == [0, 10, 20, 30]
    assert history.diverged_epoch.tolist() == [10]
    assert error[1] > 1e3 * error[0] and np.isnan(error[2:]).all() and np.isnan(history["weight_norms"][0, 2:]).all()
    # the weights are those of the last good record (here the initial ones), in the engine and in the simulation
    for a, b in zip(history.final_state_.arrays().values(), initial.arrays().values(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert (engine.trials_, history.trial_loss_.shape) == (10, (10,))
    record = engine.run_trials(task.x_test[:1], task.y_test[:1], learn=False, record=True, record_synapses=12)
    np.testing.assert_array_equal(record.weights[0][0], initial.weights[0][0].ravel())
    # a later run counts on from the trials simulated
    assert engine.train(task, 10, eval_every=10).epochs.tolist() == [11, 21]
    # without a factor only non-finite values count
    engine = Brian2Engine(net, NodePerturbation(sigma=0.3), learning_rate=300.0, seed=2, **COARSE)
    history = engine.train(task, 10, eval_every=10, divergence_factor=None)
    assert history.diverged_epoch.tolist() == [-1] and history["train_error"][0, 1] > 1e3 * history["train_error"][0, 0]


# --------------------------------------------------------------------------- engines agree
def test_weights_move_between_engines():
    task = NonlinearStudentTeacher(n_inputs=5, n_hidden=5, n_outputs=2, n_train=200, n_test=100, seed=4)
    net = models.mlp((5, 6, 2), hidden="relu")
    rule = NodePerturbation(sigma=1e-3)
    numpy_engine = NumpyEngine(net, rule, SquaredError(), seeds=[7], batch_size=1)
    # same seed, same initial weights
    brian = Brian2Engine(net, rule, seed=7, learning_rate=3e-3, **COARSE)
    for a, b in zip(numpy_engine.state_.arrays().values(), brian.get_weights().arrays().values(), strict=True):
        np.testing.assert_array_equal(a, b)
    numpy_engine.start_epoch(200)
    for x, t in task.batches(1, np.random.default_rng(0)):
        numpy_engine.step(x, t, np.array([3e-3]))
    brian.set_weights(numpy_engine.state_)
    np.testing.assert_array_equal(brian.predict(task.x_test), numpy_engine.predict(task.x_test))
    # the clean copy's steady state at the end of a long trial is the numpy forward pass
    long = Brian2Engine(net, rule, seed=7, tau=1e-3, dt=5e-4, trial_duration=3e-2, readout_window=5e-3)
    long.set_weights(numpy_engine.state_)
    record = long.run_trials(task.x_test[:2], task.y_test[:2], learn=False, record=True)
    steps = long.steps_per_trial_
    assert steps == 60
    last = np.rint(record.t / long.dt_).astype(int) % steps == steps - 1
    np.testing.assert_allclose(record.clean_rates[2][last], forward(net, numpy_engine.state_, task.x_test[:2]).output[0],
                               atol=1e-9)
    # continue in Brian2, then hand back to numpy
    before = brian.predict(task.x_test)
    brian.train(task, 300, eval_every=300)
    numpy_engine.set_state(brian.get_weights())
    np.testing.assert_array_equal(numpy_engine.predict(task.x_test), brian.predict(task.x_test))
    assert not np.allclose(before, brian.predict(task.x_test))


def test_runs_split_into_chunks_give_identical_results():
    net = models.mlp((3, 5, 2), hidden="relu")
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((7, 3)), rng.standard_normal((7, 2))
    results = []
    for chunk in (100, 3):
        engine = Brian2Engine(net, NodePerturbation(sigma=0.05), chunk_trials=chunk, homeostasis=SynapticScaling(),
                              learning_rate=0.05, **COARSE)
        first = engine.run_trials(x, y)
        second = engine.run_trials(x[:2], y[:2])
        results.append((first.trial_loss, second.trial_loss, engine.get_weights().weights[0], engine.trials_))
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)
    assert results[0][3] == 9


def test_record_shows_noise_eligibility_pulse_and_weight_change():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    net = models.mlp((3, 4, 2), hidden="tanh")
    rng = np.random.default_rng(2)
    engine = Brian2Engine(net, NodePerturbation(sigma=0.05), learning_rate=0.1, **COARSE)
    engine.run_trials(rng.standard_normal((2, 3)), rng.standard_normal((2, 2)))  # record from a later call
    w_before = engine.get_weights().weights[0][0].ravel()[:5].copy()
    record = engine.run_trials(rng.standard_normal((3, 3)), rng.standard_normal((3, 2)), record=True, record_synapses=5)
    steps = engine.steps_per_trial_
    assert record.n_trials == 3 and len(record.t) == 3 * steps
    assert record.rates[0].shape == (3 * steps, 3) and record.rates[2].shape == (3 * steps, 2)
    assert record.eligibility[0].shape == (3 * steps, 5)
    assert record.synapses[0].tolist() == [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1]]
    assert record.clean_rates[0] is None and record.noise[0] is None
    # the eligibility is zero in the settling phase, builds up in the window and resets at the trial end
    phase = np.rint(record.t / engine.dt_).astype(int) % steps
    settling = (phase >= 1) & (phase < engine.settle_steps_)
    assert np.all(record.eligibility[0][settling] == 0)
    assert np.all(np.abs(record.eligibility[0][phase == steps - 1]) > 0)
    assert np.all(record.eligibility[0][phase == 0] == 0)
    # the weights change only at trial ends, by eta * M * eligibility
    np.testing.assert_array_equal(record.weights[0][0], w_before)
    eta = engine.learning_rate_ / engine.eligibility_time_
    ends = np.flatnonzero(phase == 0)
    assert len(ends) == 3
    for k, end in enumerate(ends):
        expected = record.weights[0][end - 1] + eta * record.trial_modulator[k] * record.eligibility[0][end - 1]
        np.testing.assert_allclose(record.weights[0][end], expected, rtol=1e-10)
        np.testing.assert_array_equal(record.weights[0][end - steps + 1 : end], record.weights[0][end - 1][None].repeat(steps - 1, 0))
        assert record.modulator[end] == record.trial_modulator[k]
    # the loss trace is the running window average: at the window's last step it is the trial's loss
    np.testing.assert_allclose(record.trial_loss, record.loss[phase == steps - 1], rtol=1e-12)
    fig = record.plot()
    assert len(fig.axes) == 5


@pytest.mark.slow
def test_cython_target_matches_numpy_target(tmp_path):
    """The same engine compiled with cython gives the numpy target's trials (noise comes from the engine)."""
    pytest.importorskip("Cython", reason="cython is not installed")
    net = Network([Population(2, noise=None), Population(2)], bias=False)
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((4, 2)), rng.standard_normal((4, 2))
    results = {}
    for target in ("numpy", "cython"):
        engine = Brian2Engine(net, NodePerturbation(sigma=0.05), baseline="running_average", target=target,
                              learning_rate=0.05, **COARSE)
        try:
            record = engine.run_trials(x, y)
        except Exception as error:  # Brian2 wraps compiler failures in its own exception types
            if target == "cython":
                pytest.skip(f"cython compilation failed on this machine: {type(error).__name__}: {str(error)[:200]}")
            raise
        results[target] = (record.trial_loss, engine.get_weights().weights[0])
    np.testing.assert_allclose(results["cython"][0], results["numpy"][0], rtol=1e-10)
    np.testing.assert_allclose(results["cython"][1], results["numpy"][1], rtol=1e-10)
    # preferences are restored after every run
    assert import_brian2().prefs["codegen.target"] == "auto"


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"tau": 0}, ValueError, "tau must be > 0, got 0"),
        ({"tau": -1e-3}, ValueError, "tau must be > 0"),
        ({"dt": 1e-3, "trial_duration": 5e-4}, ValueError, "trial_duration .* is shorter than dt"),
        ({"dt": 3e-4, "trial_duration": 1e-3}, ValueError, "whole number of time steps"),
        ({"trial_duration": 1e-2, "readout_window": 2e-2}, ValueError, "readout_window .* is longer than trial_duration"),
        ({"target": "cuda"}, ValueError, "unknown target 'cuda'; expected one of 'numpy', 'cython'"),
        ({"noise": "pink"}, ValueError, "unknown noise 'pink'"),
        ({"noise": "white", "noise_tau": 1e-3}, ValueError, "noise_tau applies to noise='ou' only"),
        ({"baseline": "median"}, ValueError, "unknown baseline 'median'"),
        ({"eligibility": "spikes"}, ValueError, "unknown eligibility 'spikes'"),
        ({"sigma": -0.1}, ValueError, "sigma must be > 0"),
        ({"learning_rate": 0}, ValueError, "learning_rate must be > 0"),
        ({"baseline_decay": 1.5}, ValueError, "baseline_decay must lie in"),
        ({"loss": "cross_entropy"}, ValueError, "squared-error loss only"),
        ({"chunk_trials": 0}, ValueError, "chunk_trials should be at least 1"),
        ({"seed": -1}, ValueError, r"seed should be an integer in \[0, 2\*\*63 - 1\] \(seeds are stored as int64\), got -1"),
        ({"mean_tau": 1e-3}, ValueError, "mean_tau applies to eligibility='activity_deviation' only, got mean_tau=0.001 with eligibility='noise'"),
    ],
)
def test_bad_parameters_raise_clear_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        Brian2Engine(models.mlp((2, 3, 1)), NodePerturbation(), **kwargs)


@pytest.mark.parametrize(("rule", "name"), [(Backprop(), "backprop"), (WeightPerturbation(), "weight_perturbation")])
def test_rules_the_engine_does_not_run_are_refused(rule, name):
    assert Brian2Engine.rules == ("node_perturbation",)
    message = f"the Brian2 engine does not run rule '{name}' ({type(rule).__name__}); it runs 'node_perturbation'"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        Brian2Engine(models.mlp((2, 3, 1)), rule)


def test_populations_with_noise_come_from_the_rules_noise_needs():
    """The engine perturbs the populations the rule's noise needs name (here only the first, not every perturbed layer)."""

    class FirstPopulationOnly(NodePerturbation):
        def noise_needs(self, network):
            return NoiseNeeds((True,) + (False,) * (network.n_layers - 1), (False,) * network.n_layers)

    rule = FirstPopulationOnly(sigma=0.05)
    net = models.mlp((3, 4, 2), hidden="tanh")
    assert rule.perturbed_layers(net) == [True, True]
    engine = Brian2Engine(net, rule, **COARSE)
    assert (engine.noisy_, engine.learns_) == ([True, False], [True, False])
    record = engine.run_trials(np.ones((1, 3)), np.zeros((1, 2)), learn=False, record=True)
    assert record.noise[1] is not None and record.noise[2] is None
    assert record.eligibility[0] is not None and record.eligibility[1] is None
    layer_two = Brian2Engine(net, NodePerturbation(sigma=0.05, layers=[1]), **COARSE)
    assert (layer_two.noisy_, layer_two.learns_) == ([False, True], [False, True])


def test_bad_descriptions_raise_clear_errors():
    with pytest.raises(TypeError, match=r"rule should be a PlasticityRule that the Brian2 engine runs \('node_perturbation'\), got 'np'"):
        Brian2Engine(models.mlp((2, 3, 1)), "np")
    with pytest.raises(ValueError, match="activation 'softmax'"):
        Brian2Engine(models.mlp((2, 3, 2), readout="softmax"), NodePerturbation())
    with pytest.raises(ValueError, match="no perturbed population"):
        Brian2Engine(models.mlp((2, 3, 1), noise=None), NodePerturbation())
    engine = Brian2Engine(models.mlp((2, 3, 1)), NodePerturbation())
    with pytest.raises(ValueError, match="x has 3 features but the network has 2 inputs"):
        engine.run_trials(np.zeros((1, 3)), np.zeros((1, 1)))
    with pytest.raises(ValueError, match="state weights\\[0\\] have shape"):
        engine.set_weights(models.mlp((2, 4, 1)).init_state([0]))
    task = NonlinearStudentTeacher(n_inputs=3, n_hidden=3, n_outputs=1, n_train=10, n_test=10, seed=0)
    with pytest.raises(ValueError, match="network has 2 inputs but task 'nonlinear_student_teacher' has 3"):
        engine.train(task, 10)
    with pytest.raises(TypeError, match="task should be a Task, got 'sarcos'"):
        engine.train("sarcos", 10)


def test_times_accept_brian2_quantities():
    b2 = import_brian2()
    ms, mV = b2.ms, b2.mV

    engine = Brian2Engine(models.mlp((2, 3, 1)), NodePerturbation(), tau=2 * ms, dt=0.5 * ms, trial_duration=10 * ms)
    assert engine.tau_ == pytest.approx(2e-3) and engine.steps_per_trial_ == 20 and engine.window_steps_ == 10
    with pytest.raises(ValueError, match="tau should be a time"):
        Brian2Engine(models.mlp((2, 3, 1)), NodePerturbation(), tau=2 * mV)


def test_brian2_is_imported_lazily():
    code = "import sys, bioplastic, bioplastic.engines.brian2; print('brian2' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"


def test_benchmark_runs_quick():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "brian2_trials.py"), "--quick"], capture_output=True,
                         text=True, check=True, cwd=ROOT, timeout=300)
    assert "trials/s" in out.stdout and "relative to the numpy engine" in out.stdout
