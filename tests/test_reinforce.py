"""REINFORCE-style output perturbation (Eq. 15 of Hiratani et al. 2022): exactness, unbiasedness, engine use."""

import numpy as np
import pytest

import bioplastic as bp
from bioplastic.engines.numpy import NumpyEngine
from bioplastic.neuromodulation import Neuromodulator
from bioplastic.plasticity import RULES, Reinforce, get_rule
from bioplastic.tasks import NonlinearStudentTeacher


def _setup(sizes=(6, 9, 4), batch=5, n_members=2, seed=0, readout="linear"):
    rng = np.random.default_rng(seed)
    net = bp.models.mlp(sizes, readout=readout)
    state = net.init_state(seeds=list(range(n_members)))
    for b in state.biases:  # non-zero biases exercise the bias updates
        b += 0.1 * rng.standard_normal(b.shape)
    x = rng.standard_normal((batch, sizes[0]))
    target = rng.standard_normal((batch, sizes[-1]))
    if readout == "softmax":
        target = np.eye(sizes[-1])[rng.integers(0, sizes[-1], batch)]
    noise = [rng.standard_normal((n_members, batch, n)) for n in sizes[1:]]
    return net, state, x, target, noise


def _naive_reinforce(net, state, x, target, noise, sigma, lr, perturb_hidden=False):
    """Per-sample loops with plain numpy: perturbed pass by brute force, estimate -M xi_out, backprop."""
    W1, W2 = state.weights
    b1, b2 = state.biases
    E, B = W1.shape[0], x.shape[0]
    dW1, dW2 = np.zeros_like(W1), np.zeros_like(W2)
    db1, db2 = np.zeros_like(b1), np.zeros_like(b2)
    for e in range(E):
        for s in range(B):
            h1 = W1[e] @ x[s] + b1[e]
            r1 = np.maximum(h1, 0)
            y = W2[e] @ r1 + b2[e]
            h1p = h1 + (sigma * noise[0][e, s] if perturb_hidden else 0)
            yp = W2[e] @ np.maximum(h1p, 0) + b2[e] + sigma * noise[1][e, s]
            m = -(0.5 * np.sum((yp - target[s]) ** 2) - 0.5 * np.sum((y - target[s]) ** 2)) / sigma
            g2 = -m * noise[1][e, s]
            g1 = (W2[e].T @ g2) * (h1 > 0)
            dW2[e] -= lr[e] * np.outer(g2, r1) / B
            db2[e] -= lr[e] * g2 / B
            dW1[e] -= lr[e] * np.outer(g1, x[s]) / B
            db1[e] -= lr[e] * g1 / B
    return [dW1, dW2], [db1, db2]


@pytest.mark.parametrize("perturb_hidden", [False, True])
def test_updates_match_naive_per_sample_reference(perturb_hidden):
    net, state, x, target, noise = _setup()
    lr = np.array([0.3, 0.05])
    sigma = 1e-3
    rule = Reinforce(sigma=sigma, perturb_hidden=perturb_hidden)
    got = rule.compute_updates(net, state, x, target, bp.SquaredError(), noise=noise, scale=lr)
    weights, biases = _naive_reinforce(net, state, x, target, noise, sigma, lr, perturb_hidden)
    for k in range(2):
        np.testing.assert_allclose(got.weights[k], weights[k], rtol=1e-7, atol=1e-12)
        np.testing.assert_allclose(got.biases[k], biases[k], rtol=1e-7, atol=1e-12)


def test_readout_update_is_output_only_node_perturbation():
    net, state, x, target, noise = _setup(readout="softmax")
    lr = np.array([0.1, 0.2])
    rf = Reinforce(sigma=1e-4).compute_updates(net, state, x, target, bp.SquaredError(), noise=noise, scale=lr)
    only_out = [None, noise[1]]
    np_out = bp.NodePerturbation(sigma=1e-4, layers=(1,)).compute_updates(net, state, x, target, bp.SquaredError(),
                                                                           noise=only_out, scale=lr)
    np.testing.assert_allclose(rf.weights[1], np_out.weights[1], rtol=1e-12, atol=0)
    np.testing.assert_allclose(rf.biases[1], np_out.biases[1], rtol=1e-12, atol=0)
    assert np_out.weights[0] is None  # output-only NP leaves the hidden layer alone ...
    assert np.abs(rf.weights[0]).max() > 0  # the hidden layer learns from the backpropagated estimate
    # without hidden perturbation, hidden noise has no effect on the update
    changed = [10 * noise[0], noise[1]]
    rf2 = Reinforce(sigma=1e-4).compute_updates(net, state, x, target, bp.SquaredError(), noise=changed, scale=lr)
    for k in range(2):
        np.testing.assert_array_equal(rf.weights[k], rf2.weights[k])


@pytest.mark.parametrize(("perturb_hidden", "tolerance"), [(False, 0.03), (True, 0.04)])
def test_expected_update_is_the_sgd_update(perturb_hidden, tolerance):
    """Averaged over many noise draws, the update equals -lr dL/dW (to first order in sigma)."""
    net, state, x, target, _ = _setup(sizes=(5, 8, 3), batch=3, n_members=1, seed=3)
    n_draws = 40000
    many = bp.NetworkState([np.repeat(w, n_draws, axis=0) for w in state.weights],
                           [np.repeat(b, n_draws, axis=0) for b in state.biases])
    rng = np.random.default_rng(11)
    noise = [rng.standard_normal((n_draws, 3, n)) for n in (8, 3)]
    lr = np.ones(n_draws)
    rf = Reinforce(sigma=1e-5, perturb_hidden=perturb_hidden).compute_updates(net, many, x, target, bp.SquaredError(),
                                                                              noise=noise, scale=lr)
    sgd = bp.Backprop().compute_updates(net, state, x, target, bp.SquaredError(), scale=np.ones(1))
    for k in range(2):
        mean = rf.weights[k].mean(axis=0)
        err = np.linalg.norm(mean - sgd.weights[k][0]) / np.linalg.norm(sgd.weights[k][0])
        assert err < tolerance, (k, err)
        # the error is statistical: it shrinks like 1/sqrt(draws)
        half = rf.weights[k][: n_draws // 16].mean(axis=0)
        err_small = np.linalg.norm(half - sgd.weights[k][0]) / np.linalg.norm(sgd.weights[k][0])
        assert err_small > err


def test_batch_reduction_sum_is_batch_times_mean():
    net, state, x, target, noise = _setup(batch=7)
    lr = np.array([0.1, 0.2])
    mean = Reinforce(batch_reduction="mean").compute_updates(net, state, x, target, bp.SquaredError(), noise=noise, scale=lr)
    total = Reinforce(batch_reduction="sum").compute_updates(net, state, x, target, bp.SquaredError(), noise=noise, scale=lr)
    for k in range(2):
        np.testing.assert_allclose(total.weights[k], 7 * mean.weights[k], rtol=1e-12)


def test_signals_perturbed_layers_and_registry():
    net = bp.models.mlp((4, 6, 5, 3))
    rule = Reinforce()
    assert rule.signal == "vector" and rule.uses_noise
    assert rule.layer_signals(net) == ["vector", "vector", "scalar"]
    assert rule.perturbed_layers(net) == [False, False, True]
    assert Reinforce(perturb_hidden=True).perturbed_layers(net) == [True, True, True]
    assert RULES["reinforce"] is Reinforce
    built = get_rule("reinforce", sigma=1e-3, perturb_hidden=True)
    assert isinstance(built, Reinforce) and built.sigma == 1e-3 and built.perturb_hidden
    assert built.describe() == {"name": "reinforce", "sigma": 1e-3, "perturb_hidden": True, "neuromodulator": {"baseline": "clean", "decay": 0.9},
                                "batch_reduction": "mean"}
    assert "perturb_hidden=True" in repr(built)
    # the engine draws noise for the output population only
    engine = NumpyEngine(net, rule, bp.SquaredError(), seeds=[0], batch_size=4)
    assert engine.noise_.widths == [None, None, 3]
    engine = NumpyEngine(net, Reinforce(perturb_hidden=True), bp.SquaredError(), seeds=[0], batch_size=4)
    assert engine.noise_.widths == [6, 5, 3]


def test_validation():
    with pytest.raises(ValueError, match="sigma must be > 0, got -1"):
        Reinforce(sigma=-1.0)
    with pytest.raises(TypeError, match="perturb_hidden should be True or False, got 'yes'"):
        Reinforce(perturb_hidden="yes")
    with pytest.raises(TypeError, match="neuromodulator should be a Neuromodulator"):
        Reinforce(neuromodulator="clean")
    with pytest.raises(ValueError, match="batch_reduction"):
        Reinforce(batch_reduction="median")
    net, state, x, target, noise = _setup()
    with pytest.raises(ValueError, match="needs intrinsic noise at the output population"):
        Reinforce().compute_updates(net, state, x, target, bp.SquaredError(), noise=None, scale=np.ones(2))
    silent = bp.models.mlp((6, 9, 4), noise=None)
    with pytest.raises(ValueError, match="needs intrinsic noise"):
        NumpyEngine(silent, Reinforce(), bp.SquaredError(), seeds=[0], batch_size=4)


def test_learns_and_ensemble_member_equals_solo_run():
    task = NonlinearStudentTeacher(n_inputs=10, n_hidden=10, n_outputs=3, n_train=400, n_test=200, seed=1)
    net = bp.models.mlp((10, 30, 3))
    rule = Reinforce(sigma=1e-4)
    ensemble = bp.train(net, rule, task, n_epochs=15, learning_rate=[0.02, 0.05], seeds=[0, 1], batch_size=20, progress=False)
    assert not ensemble.diverged.any()
    final, initial = ensemble.final("test_error"), ensemble.records["test_error"][:, 0]
    assert np.all(final < 0.5 * initial)
    solo = bp.train(net, rule, task, n_epochs=15, learning_rate=0.05, seeds=1, batch_size=20, progress=False)
    np.testing.assert_allclose(solo.records["test_error"][0], ensemble.records["test_error"][3], rtol=1e-10)
    # REINFORCE learns faster per epoch than NP on the same problem (its estimate's variance grows with the outputs only)
    np_hist = bp.train(net, bp.NodePerturbation(sigma=1e-4), task, n_epochs=15, learning_rate=0.05, seeds=1, batch_size=20,
                       progress=False)
    assert solo.final("test_error")[0] < np_hist.final("test_error")[0]


@pytest.mark.parametrize("rule_class", [Reinforce, bp.NodePerturbation])
def test_running_average_baseline_is_refused_by_the_numpy_engine_only(rule_class):
    """The rule describes its baseline; the numpy engine, which needs the clean pass, refuses the running average."""
    rule = rule_class(neuromodulator=Neuromodulator(baseline="running_average", decay=0.8))
    assert rule.neuromodulator.baseline == "running_average"
    task = NonlinearStudentTeacher(n_inputs=4, n_hidden=3, n_outputs=2, n_train=20, n_test=10, seed=0)
    with pytest.raises(ValueError, match="numpy engine runs .* baseline='clean'.*got baseline='running_average'"):
        bp.train(bp.models.mlp((4, 5, 2)), rule, task, n_epochs=1, learning_rate=0.1, batch_size=5, progress=False)
