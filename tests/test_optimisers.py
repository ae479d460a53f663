"""Optimisers against naive reference loops on a quadratic loss."""

import math

import numpy as np
import pytest

from bioplastic.optimisers import SGD, Adam, Momentum, get_optimiser

# f(w) = 1/2 sum_i a_i (w_i - c_i)^2 per member, gradient a * (w - c)
A = np.array([0.5, 1.0, 2.0, 4.0])
C = np.array([1.0, -2.0, 0.5, 3.0])
RATES = np.array([0.01, 0.05, 0.1])


def _run(optimiser, n_steps):
    w = np.zeros((len(RATES), 2, 2))
    params = {"W0": w}
    state = optimiser.init_state(params)
    for _ in range(n_steps):
        g = A.reshape(2, 2) * (w - C.reshape(2, 2))
        optimiser.step(params, {"W0": g}, RATES, state)
    return w


def _naive_momentum(eta, mu, nesterov, n_steps):
    w, v = [0.0] * 4, [0.0] * 4
    for _ in range(n_steps):
        for i in range(4):
            g = A[i] * (w[i] - C[i])
            v[i] = mu * v[i] + g
            w[i] -= eta * ((g + mu * v[i]) if nesterov else v[i])
    return w


def _naive_adam(eta, b1, b2, eps, n_steps):
    w, m, v = [0.0] * 4, [0.0] * 4, [0.0] * 4
    for t in range(1, n_steps + 1):
        for i in range(4):
            g = A[i] * (w[i] - C[i])
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            w[i] -= eta * (m[i] / (1 - b1**t)) / (math.sqrt(v[i] / (1 - b2**t)) + eps)
    return w


def test_sgd_is_plain_descent():
    w = _run(SGD(), 30)
    for e, eta in enumerate(RATES):
        expected = C - (1 - eta * A) ** 30 * C  # w_t - c = (1 - eta a)^t (w_0 - c)
        np.testing.assert_allclose(w[e].ravel(), expected, rtol=1e-12)


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_matches_naive_loop(nesterov):
    w = _run(Momentum(momentum=0.8, nesterov=nesterov), 40)
    for e, eta in enumerate(RATES):
        np.testing.assert_allclose(w[e].ravel(), _naive_momentum(eta, 0.8, nesterov, 40), rtol=1e-12, atol=1e-14)


def test_adam_matches_naive_loop():
    w = _run(Adam(beta1=0.85, beta2=0.99, epsilon=1e-6), 50)
    for e, eta in enumerate(RATES):
        np.testing.assert_allclose(w[e].ravel(), _naive_adam(eta, 0.85, 0.99, 1e-6, 50), rtol=1e-12, atol=1e-14)


def test_zero_learning_rate_freezes_a_member():
    w = np.ones((2, 3))
    params = {"W0": w}
    for opt in (SGD(), Momentum(), Adam()):
        state = opt.init_state(params)
        opt.step(params, {"W0": np.full((2, 3), 5.0)}, np.array([0.0, 0.1]), state)
        assert np.all(w[0] == 1.0) and np.all(w[1] < 1.0)
        w[1] = 1.0


def test_parameters_and_errors():
    assert get_optimiser(None).describe() == {"name": "sgd"}
    assert get_optimiser({"name": "adam", "beta1": 0.5}).describe() == {"name": "adam", "beta1": 0.5, "beta2": 0.999, "epsilon": 1e-8}
    assert repr(Momentum(momentum=0.5)) == "Momentum(momentum=0.5, nesterov=False)"
    with pytest.raises(ValueError, match="momentum must lie in"):
        Momentum(momentum=1.0)
    with pytest.raises(ValueError, match=r"beta2 must lie in \[0, 1\)"):
        Adam(beta2=1.5)
    with pytest.raises(ValueError, match="epsilon must be > 0"):
        Adam(epsilon=0)
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['lr'\] for optimiser 'adam'"):
        get_optimiser({"name": "adam", "lr": 0.1})
    with pytest.raises(ValueError, match="unknown optimiser 'rmsprop'"):
        get_optimiser("rmsprop")
