"""Weight perturbation: the literal rule, unbiasedness, and its variance against node perturbation."""

import numpy as np
import pytest

import bioplastic as bp
from bioplastic.losses import SquaredError
from bioplastic.ops import draw_noise, forward
from bioplastic.plasticity import WeightPerturbation


def _setup(sizes=(4, 5, 3), n_members=1, batch=3, seed=0, bias=True, hidden="tanh"):
    rng = np.random.default_rng(seed)
    net = bp.models.mlp(sizes, hidden=hidden, bias=bias)
    state = net.init_state([seed] * n_members)
    for b in state.biases:
        if b is not None:
            b[...] = 0.1 * rng.standard_normal(b.shape[1:])
    x = rng.standard_normal((batch, sizes[0]))
    target = rng.standard_normal((batch, sizes[-1]))
    return net, state, x, target


def _synaptic_noise(rng, net, n_members):
    return [draw_noise(rng, "gaussian", (n_members, p.n_post, p.n_pre + 1)) for p in net.projections]


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_matches_naive_perturbed_weights_loop(reduction):
    """dW = -eta/sigma (L(W + sigma psi) - L(W)) psi, written literally with two full passes per member."""
    net, state, x, target = _setup(n_members=3)
    loss, sigma, lr = SquaredError(), 1e-3, np.array([0.1, 0.2, 0.3])
    noise = _synaptic_noise(np.random.default_rng(1), net, 3)
    rule = WeightPerturbation(sigma=sigma, batch_reduction=reduction)
    got = rule.compute_updates(net, state, x, target, loss, synaptic_noise=noise, scale=lr)
    for e in range(3):
        perturbed = bp.NetworkState([w[e:e + 1] + sigma * n[e:e + 1, :, :-1] for w, n in zip(state.weights, noise, strict=True)],
                                    [b[e:e + 1] + sigma * n[e:e + 1, :, -1] for b, n in zip(state.biases, noise, strict=True)])
        member = state.member(e)
        difference = loss(forward(net, perturbed, x).output, target).sum() - loss(forward(net, member, x).output, target).sum()
        if reduction == "mean":
            difference /= x.shape[0]
        for k in range(net.n_layers):
            expected = -lr[e] * difference / sigma * noise[k][e]
            np.testing.assert_allclose(got.weights[k][e], expected[:, :-1], rtol=1e-6, atol=1e-12)
            np.testing.assert_allclose(got.biases[k][e], expected[:, -1], rtol=1e-6, atol=1e-12)


def test_average_direction_is_the_gradient():
    """E[g] = dL/dW; the mean of n draws deviates by sqrt((|G|^2 + G_i^2) / n) per synapse (Gaussian psi).

    The tolerance on the relative error of each layer is 4 standard errors,
    ``4 sqrt((N |G|^2 + |G_k|^2) / (|G_k|^2 n))`` with N the number of
    perturbed synapses: it shrinks like 1/sqrt(n).
    """
    n_draws = 20000
    net, state, x, target = _setup(sizes=(3, 4, 2), batch=2)
    loss = SquaredError()
    grads_w, grads_b = bp.Backprop().gradients(net, state, x, target, loss)
    big = bp.NetworkState.stack([state] * n_draws)
    noise = _synaptic_noise(np.random.default_rng(5), net, n_draws)
    g = WeightPerturbation(sigma=1e-6).directions(net, big, x, target, loss, synaptic_noise=noise)
    full = [np.concatenate([w[0], b[0][:, None]], axis=1) for w, b in zip(grads_w, grads_b, strict=True)]
    g_all = sum(float(np.sum(f**2)) for f in full)
    n_all = sum(f.size for f in full)
    for k in range(net.n_layers):
        mean = np.concatenate([g.weights[k].mean(axis=0), g.biases[k].mean(axis=0)[:, None]], axis=1)
        g_k = float(np.sum(full[k] ** 2))
        tolerance = 4 * np.sqrt((n_all * g_all + g_k) / (g_k * n_draws))
        rel = np.linalg.norm(mean - full[k]) / np.sqrt(g_k)
        assert rel < tolerance, (k, rel, tolerance)
        assert tolerance < 0.25


def test_variance_exceeds_node_perturbation_by_order_n_pre():
    """One linear layer, one sample: total variance (N + 1)|G|^2 for WP (N = n_post n_pre synapses), (n_post + 1)|G|^2 for NP.

    Gaussian noise gives E[(psi.G)^2 |psi|^2] = (N + 2)|G|^2. The measured
    totals are checked against these within 5 standard errors of the
    Monte-Carlo mean, and so is their ratio (n_post n_pre + 1) / (n_post + 1).
    """
    n_pre, n_post, n_draws = 30, 3, 6000
    net = bp.models.mlp((n_pre, n_post), readout="linear", bias=False)
    state = net.init_state([0])
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, n_pre))
    target = rng.standard_normal((1, n_post))
    loss = SquaredError()
    grad = bp.Backprop().gradients(net, state, x, target, loss)[0][0][0]
    big = bp.NetworkState.stack([state] * n_draws)
    g_sq = float(np.sum(grad**2))
    measured = {}
    wp_noise = [draw_noise(rng, "gaussian", (n_draws, n_post, n_pre + 1))]
    wp = WeightPerturbation(sigma=1e-7).directions(net, big, x, target, loss, synaptic_noise=wp_noise).weights[0]
    np_noise = [draw_noise(rng, "gaussian", (n_draws, 1, n_post))]
    nodes = bp.NodePerturbation(sigma=1e-7).directions(net, big, x, target, loss, noise=np_noise).weights[0]
    for label, draws in (("wp", wp), ("np", nodes)):
        squared = np.sum((draws - grad) ** 2, axis=(1, 2))
        measured[label] = (squared.mean(), squared.std() / np.sqrt(n_draws))
    predicted = {"wp": (n_post * n_pre + 1) * g_sq, "np": (n_post + 1) * g_sq}
    for label in ("wp", "np"):
        mean, error = measured[label]
        assert abs(mean - predicted[label]) < 5 * error, (label, mean, predicted[label], error)
    ratio = measured["wp"][0] / measured["np"][0]
    ratio_error = ratio * np.hypot(measured["wp"][1] / measured["wp"][0], measured["np"][1] / measured["np"][0])
    assert abs(ratio - (n_post * n_pre + 1) / (n_post + 1)) < 5 * ratio_error
    assert ratio > n_pre / 2


def test_declares_synaptic_noise_and_a_local_scalar_signal():
    net = bp.models.mlp((4, 5, 3))
    rule = WeightPerturbation(layers=[1])
    needs = rule.noise_needs(net)
    assert needs.synapse == (False, True) and needs.population == (False, False)
    assert rule.signal == "scalar" and rule.local
    with pytest.raises(ValueError, match="needs synaptic noise"):
        rule.directions(net, net.init_state([0]), np.zeros((2, 4)), np.zeros((2, 3)), SquaredError())


def test_learns_the_built_in_student_teacher_task():
    """30 epochs of WP bring every member's test error below a fifth of its start (it is about a tenth there)."""
    task = bp.tasks.NonlinearStudentTeacher(n_inputs=8, n_hidden=6, n_outputs=3, n_train=200, n_test=100, seed=1)
    history = bp.train(bp.models.mlp((8, 12, 3), hidden="tanh"), WeightPerturbation(sigma=1e-3), task, n_epochs=30,
                       learning_rate=0.01, seeds=[0, 1], batch_size=10, progress=False)
    errors = history.records["test_error"]
    assert not history.diverged.any()
    assert np.all(errors[:, -1] < 0.2 * errors[:, 0]), errors[:, [0, -1]]
