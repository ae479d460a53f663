"""Weight perturbation and REINFORCE on networks of feature maps: their passes and their estimates.

Their training runs (member = solo, resumed bit for bit) are in test_convolutional_networks, beside every other rule's.
"""

import numpy as np
import pytest
from cnn_helpers import POOL_MODES, flat_directions, random_batch, small_cnn
from conftest import state_away_from_init

import bioplastic as bp
from bioplastic.engines.numpy import NumpyEngine
from bioplastic.losses import SquaredError
from bioplastic.ops import forward, synaptic_noise_shape, synaptic_perturbation_change


def _synaptic_noise(net, n_members, rng):
    return [rng.standard_normal((n_members, *synaptic_noise_shape(p))) for p in net.projections]


def _perturbed(state, psi, sigma):
    """``state`` with every kernel (weight matrix) and bias moved by ``sigma psi``."""
    moved = state.copy()
    for w, b, p in zip(moved.weights, moved.biases, psi, strict=True):
        w += sigma * p[:, :, :-1].reshape(w.shape)
        b += sigma * p[:, :, -1]
    return moved


def test_synaptic_noise_has_one_value_per_kernel_weight_and_channel_bias():
    net = small_cnn()
    assert [synaptic_noise_shape(p) for p in net.projections] == [(3, 2 * 3 * 3 + 1), (4, 3 * 2 * 2 + 1), (5, 17), (3, 6)]
    needs = bp.WeightPerturbation().noise_needs(net)
    assert needs.synapse == (True,) * 4 and needs.population == (False,) * 4
    engine = NumpyEngine(net, bp.WeightPerturbation(), SquaredError(), seeds=[0, 1], batch_size=4)
    engine.start_epoch(1)
    channels = engine.noise_.next()
    assert [c.shape for c in channels[4:]] == [(2, 3, 19), (2, 4, 13), (2, 5, 17), (2, 3, 6)]


@pytest.mark.parametrize("pool_mode", POOL_MODES)
@pytest.mark.parametrize("sigma", [1e-4, 0.5])
def test_synaptic_perturbation_change_equals_the_difference_of_two_passes(pool_mode, sigma):
    # the propagated change is exact (no first-order approximation: that would be off by ~sigma^2), also where a large
    # perturbation moves a window's maximum (sigma = 0.5); the subtraction of the two passes loses ~1e-16 absolute
    net = small_cnn(pool_mode)
    state = state_away_from_init(net)
    x, _ = random_batch()
    psi = _synaptic_noise(net, 2, np.random.default_rng(2))
    clean = forward(net, state, x)
    changes = synaptic_perturbation_change(net, state, clean, psi, sigma)
    noisy = forward(net, _perturbed(state, psi, sigma), x)
    for k in range(net.n_layers):
        expected = noisy.rates[k + 1] - clean.rates[k + 1]
        np.testing.assert_allclose(changes[k], expected, rtol=1e-10, atol=1e-14)
    if pool_mode == "max":
        moved = [np.any(noisy.switches[k].winners != clean.switches[k].winners) for k in (0, 1)]
        assert moved == ([True, True] if sigma == 0.5 else [False, False])


@pytest.mark.parametrize("pool_mode", POOL_MODES)
def test_weight_perturbation_on_feature_maps_is_unbiased(pool_mode):
    # M estimates; |mean - g|^2 concentrates at tr(Cov) / M (d = 311 or 212 parameters, Cov close to |g|^2 I): within
    # a factor 2, at M and 4M
    net = small_cnn(pool_mode)
    state = state_away_from_init(net, n_members=1)
    x, target = random_batch(batch=2)
    g = flat_directions(bp.Backprop().directions(net, state, x, target, SquaredError()))[0]
    rule = bp.WeightPerturbation(sigma=1e-4)
    rng = np.random.default_rng(3)
    estimates = np.array([flat_directions(rule.directions(net, state, x, target, SquaredError(), synaptic_noise=_synaptic_noise(net, 1, rng)))[0]
                          for _ in range(1600)])
    trace = estimates.var(axis=0).sum()
    for m in (400, 1600):
        error = np.sum((estimates[:m].mean(axis=0) - g) ** 2)
        assert error < 2 * trace / m, (m, error, trace / m)
    # the estimate's variance is WP's: (d + 1) |g|^2 to first order in sigma (Gaussian psi: Cov = |g|^2 I + g g^T)
    assert trace == pytest.approx((g.size + 1) * np.sum(g**2), rel=0.15)


def _symmetric_design(width, scale):
    """The ``2 width`` noise vectors ``+-scale e_i`` (their second moment is ``scale**2 / width`` times the identity)."""
    return [sign * scale * np.eye(width)[i] for i in range(width) for sign in (1.0, -1.0)]


@pytest.mark.parametrize("pool_mode", POOL_MODES)
@pytest.mark.parametrize("perturb_hidden", [False, True])
def test_reinforce_on_feature_maps_averages_to_the_gradient(pool_mode, perturb_hidden):
    # With output noise xi over the 2 n_out vectors +-sqrt(n_out) e_i (E[xi xi^T] = I, as for Gaussian noise) the
    # average of the estimate -M xi = ((L~ - L) / sigma) xi is dL/dh_L up to O(sigma^2): the term of order sigma is
    # odd in xi and cancels. Hidden noise (perturb_hidden) +-zeta, one fixed draw on every unit of every
    # feature map, cancels in pairs too. So the averaged directions are backprop's gradient.
    net = small_cnn(pool_mode)
    state = state_away_from_init(net)
    x, target = random_batch()
    loss = SquaredError()
    g = flat_directions(bp.Backprop().directions(net, state, x, target, loss))
    rule = bp.Reinforce(sigma=1e-5, perturb_hidden=perturb_hidden)
    zeta = [np.random.default_rng(5).standard_normal((2, len(x), p.n_neurons)) for p in net.populations[1:-1]]
    total, count = 0.0, 0
    for xi in _symmetric_design(3, np.sqrt(3)):
        for sign in (1.0, -1.0) if perturb_hidden else (1.0,):
            noise = [sign * z for z in zeta] + [np.broadcast_to(xi, (2, len(x), 3)).copy()]
            total = total + flat_directions(rule.directions(net, state, x, target, loss, noise=noise))
            count += 1
    np.testing.assert_allclose(total / count, g, rtol=1e-6, atol=1e-9 * np.abs(g).max())
    # one draw alone is not the gradient
    single = flat_directions(rule.directions(net, state, x, target, loss, noise=zeta + [np.broadcast_to(xi, (2, len(x), 3)).copy()]))
    assert np.abs(single - g).max() > 0.1 * np.abs(g).max()


def test_weight_perturbation_names_the_expected_noise_shape():
    net = small_cnn()
    state = state_away_from_init(net)
    x, target = random_batch()
    psi = _synaptic_noise(net, 2, np.random.default_rng(0))
    psi[0] = np.zeros((2, 3, 2 * 7 * 6 + 1))  # n_pre + 1 columns, as for an all-to-all projection
    with pytest.raises(ValueError) as info:
        bp.WeightPerturbation().directions(net, state, x, target, SquaredError(), synaptic_noise=psi)
    assert str(info.value) == "synaptic_noise[0] should have shape (n_members, *synaptic_noise_shape(projection)) = (2, 3, 19), got (2, 3, 85)"
