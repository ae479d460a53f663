"""Participation ratio (bioplastic.analysis.dimensionality) against closed forms and eigendecompositions."""

import numpy as np
import pytest

import bioplastic as bp
from bioplastic.analysis import hidden_participation_ratio, participation_ratio
from bioplastic.network import Network
from bioplastic.neurons import Population


def test_participation_ratio_closed_forms():
    rng = np.random.default_rng(0)
    # activity confined to one direction: PR = 1
    direction = rng.standard_normal(20)
    assert participation_ratio(np.outer(rng.standard_normal(500), direction)) == pytest.approx(1.0, rel=1e-9)
    # variances 1 on k axes, 0 elsewhere: PR = k exactly for the sample covariance of an orthogonal design
    k = 5
    basis = np.linalg.qr(rng.standard_normal((20, 20)))[0][:, :k]
    coords = np.linalg.qr(rng.standard_normal((400, k)))[0]  # orthonormal columns: equal sample variances
    coords -= coords.mean(0)
    assert participation_ratio(coords @ basis.T) == pytest.approx(k, rel=0.05)
    # spectrum l_i: PR = (sum l)^2 / sum l^2 ; compare with an eigen-decomposition
    x = rng.standard_normal((300, 8)) * np.arange(1, 9)
    lam = np.linalg.eigvalsh(np.cov(x, rowvar=False))
    assert participation_ratio(x) == pytest.approx(lam.sum() ** 2 / np.sum(lam**2), rel=1e-10)
    # activity that does not vary spans no dimension; max_samples keeps the first samples
    assert participation_ratio(np.ones((10, 3))) == 0.0
    assert participation_ratio(x, max_samples=50) == participation_ratio(x[:50])


def test_participation_ratio_ensemble_axis():
    rng = np.random.default_rng(1)
    acts = rng.standard_normal((3, 100, 6))
    np.testing.assert_allclose(participation_ratio(acts), [participation_ratio(a) for a in acts], rtol=1e-12)
    with pytest.raises(ValueError, match="at least 2 samples"):
        participation_ratio(np.ones((1, 4)))
    with pytest.raises(ValueError, match=r"activity should have shape .* got \(4,\)"):
        participation_ratio(np.ones(4))


def test_hidden_participation_ratio_closed_form():
    # a linear hidden layer copying 3 of 4 inputs whose covariance has eigenvalues 4, 1, 1
    net = Network([Population(4, noise=None), Population(3), Population(2)], bias=False)
    state = net.init_state(seeds=[0])
    state.weights[0][0] = np.eye(3, 4)
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((400, 4)))
    x = q * np.sqrt(399) * np.array([2.0, 1.0, 1.0, 5.0])  # orthogonal centred-ish columns
    x -= x.mean(axis=0)
    cov = np.cov((x @ np.eye(3, 4).T).T)
    eig = np.linalg.eigvalsh(cov)
    expected = eig.sum() ** 2 / np.sum(eig**2)
    pr = hidden_participation_ratio(net, state, x)
    assert pr.shape == (1, 1)
    assert pr[0, 0] == pytest.approx(expected, rel=1e-10)
    assert expected == pytest.approx(36 / 18, rel=1e-2)
    # deeper networks: one value per hidden layer, ReLU rates, first max_samples inputs only
    deep = bp.models.mlp((4, 6, 5, 2))
    st = deep.init_state(seeds=[0, 1])
    values = hidden_participation_ratio(deep, st, x, max_samples=100)
    assert values.shape == (2, 2) and np.all((values >= 1) & (values <= np.array([6, 5])))
    rates = deep.forward(st, x[:100]).rates[2]
    assert values[1, 1] == pytest.approx(participation_ratio(rates[1]), rel=1e-12)
    with pytest.raises(ValueError, match=r"x should have shape \(n_samples, 4\)"):
        hidden_participation_ratio(deep, st, x[:, :3])
    # no hidden layer: nothing to measure
    assert hidden_participation_ratio(bp.models.mlp((4, 2)), bp.models.mlp((4, 2)).init_state(seeds=[0, 1]), x).shape == (2, 0)
