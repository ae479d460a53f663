"""Analysis helpers against closed forms and naive loops."""

import numpy as np
import pytest

import bioplastic as bp
from bioplastic.analysis import cosine_similarity, participation_ratio


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


def test_participation_ratio_ensemble_axis():
    rng = np.random.default_rng(1)
    acts = rng.standard_normal((3, 100, 6))
    np.testing.assert_allclose(participation_ratio(acts), [participation_ratio(a) for a in acts], rtol=1e-12)
    with pytest.raises(ValueError, match="at least 2 samples"):
        participation_ratio(np.ones((1, 4)))


def test_cosine_similarity_matches_loop():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((4, 3, 5)), rng.standard_normal((4, 3, 5))
    expected = [np.dot(a[e].ravel(), b[e].ravel()) / np.linalg.norm(a[e]) / np.linalg.norm(b[e]) for e in range(4)]
    np.testing.assert_allclose(cosine_similarity(a, b), expected, rtol=1e-12)
    assert cosine_similarity(np.zeros((1, 3)), np.ones((1, 3)))[0] == 0


def test_backprop_update_cosine_with_itself_is_one():
    net = bp.models.mlp((4, 6, 3))
    state = net.init_state([0, 1])
    rng = np.random.default_rng(3)
    x, t = rng.standard_normal((5, 4)), rng.standard_normal((5, 3))
    cos = bp.analysis.update_cosine_similarity(net, state, x, t, bp.SquaredError(), bp.Backprop(), bp.Backprop())
    np.testing.assert_allclose(cos, 1.0, rtol=1e-12)
