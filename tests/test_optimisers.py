"""Optimisers against naive reference loops on a quadratic loss; weight decay in the engine and in training."""

import math
import tomllib

import numpy as np
import pytest

import bioplastic as bp
from bioplastic.config import build_experiment, dump_config
from bioplastic.engines.numpy import NumpyEngine
from bioplastic.optimisers import SGD, Adam, Momentum, get_optimiser
from bioplastic.training import CheckpointMismatchError

# f(w) = 1/2 sum_i a_i (w_i - c_i)^2 per member, gradient a * (w - c)
A = np.array([0.5, 1.0, 2.0, 4.0])
C = np.array([1.0, -2.0, 0.5, 3.0])
RATES = np.array([0.01, 0.05, 0.1])


def _run(optimiser, n_steps, key="W0"):
    """The quadratic loss minimised for ``n_steps`` with the parameter under ``key`` (``W<k>``: a weight)."""
    w = np.zeros((len(RATES), 2, 2))
    params = {key: w}
    state = optimiser.init_state(params)
    for _ in range(n_steps):
        g = A.reshape(2, 2) * (w - C.reshape(2, 2))
        optimiser.step(params, {key: g}, RATES, state)
    return w


def _naive_momentum(eta, mu, nesterov, n_steps, decay=0.0):
    w, v = [0.0] * 4, [0.0] * 4
    for _ in range(n_steps):
        for i in range(4):
            g = A[i] * (w[i] - C[i]) + decay * w[i]
            v[i] = mu * v[i] + g
            w[i] -= eta * ((g + mu * v[i]) if nesterov else v[i])
    return w


def _naive_adam(eta, b1, b2, eps, n_steps, decay=0.0):
    w, m, v = [0.0] * 4, [0.0] * 4, [0.0] * 4
    for t in range(1, n_steps + 1):
        for i in range(4):
            g = A[i] * (w[i] - C[i]) + decay * w[i]
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
    assert repr(Momentum(momentum=0.5)) == "Momentum(momentum=0.5, nesterov=False, weight_decay=0.0)"
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


# ----------------------------------------------------------------------------- weight decay
DECAY = 0.3


def test_sgd_weight_decay_is_descent_on_the_l2_regularised_loss():
    # gradient a (w - c) + lambda w: w_t = w* (1 - (1 - eta (a + lambda))^t) from w_0 = 0, with w* = a c / (a + lambda)
    w = _run(SGD(weight_decay=DECAY), 30)
    fixed_point = A * C / (A + DECAY)
    for e, eta in enumerate(RATES):
        np.testing.assert_allclose(w[e].ravel(), fixed_point * (1 - (1 - eta * (A + DECAY)) ** 30), rtol=1e-12)


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_weight_decay_enters_the_velocity(nesterov):
    w = _run(Momentum(momentum=0.8, nesterov=nesterov, weight_decay=DECAY), 40)
    for e, eta in enumerate(RATES):
        np.testing.assert_allclose(w[e].ravel(), _naive_momentum(eta, 0.8, nesterov, 40, decay=DECAY), rtol=1e-12, atol=1e-14)


def test_adam_weight_decay_is_the_coupled_l2_of_the_moments():
    w = _run(Adam(beta1=0.85, beta2=0.99, epsilon=1e-6, weight_decay=DECAY), 50)
    for e, eta in enumerate(RATES):
        np.testing.assert_allclose(w[e].ravel(), _naive_adam(eta, 0.85, 0.99, 1e-6, 50, decay=DECAY), rtol=1e-12, atol=1e-14)
    # not AdamW: a decoupled decay would give other weights
    adamw = [0.0] * 4
    m, v = [0.0] * 4, [0.0] * 4
    for t in range(1, 51):
        for i in range(4):
            g = A[i] * (adamw[i] - C[i])
            m[i] = 0.85 * m[i] + 0.15 * g
            v[i] = 0.99 * v[i] + 0.01 * g * g
            adamw[i] -= RATES[0] * ((m[i] / (1 - 0.85**t)) / (math.sqrt(v[i] / (1 - 0.99**t)) + 1e-6) + DECAY * adamw[i])
    assert np.max(np.abs(w[0].ravel() - adamw)) > 1e-3


@pytest.mark.parametrize("optimiser", [SGD(weight_decay=DECAY), Momentum(momentum=0.8, weight_decay=DECAY), Adam(weight_decay=DECAY)],
                         ids=["sgd", "momentum", "adam"])
@pytest.mark.parametrize("key", ["b0", "rule/B1"])
def test_weight_decay_leaves_biases_and_rule_state_alone(optimiser, key):
    without = type(optimiser)(**{**optimiser.get_params(), "weight_decay": 0.0})
    np.testing.assert_array_equal(_run(optimiser, 20, key=key), _run(without, 20, key=key))
    assert not np.array_equal(_run(optimiser, 20), _run(without, 20))  # the same optimiser decays a weight


def test_weight_decay_parameters_and_errors():
    assert SGD().describe() == {"name": "sgd"} and SGD().fused  # no decay: described and fused as before
    assert SGD(weight_decay=1e-4).describe() == {"name": "sgd", "weight_decay": 1e-4} and not SGD(weight_decay=1e-4).fused
    assert get_optimiser({"name": "adam", "weight_decay": 0.01}).describe() == {"name": "adam", "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8,
                                                                              "weight_decay": 0.01}
    assert repr(SGD(weight_decay=0.5)) == "SGD(weight_decay=0.5)"
    for cls in (SGD, Momentum, Adam):
        with pytest.raises(ValueError) as info:
            cls(weight_decay=-0.1)
        assert str(info.value) == "weight_decay must be >= 0, got -0.1"
    with pytest.raises(TypeError):
        SGD(0.1)  # keyword-only


def test_weight_decay_round_trips_through_a_configuration_file():
    description = Adam(beta1=0.8, weight_decay=1e-4).describe()
    text = dump_config({"network": {"sizes": [8, 12, 3]}, "task": {"name": "student_teacher"}, "rule": {"name": "backprop"},
                        "training": {"n_epochs": 1, "learning_rate": 0.01, "optimiser": description}})
    *_, training = build_experiment(tomllib.loads(text))
    rebuilt = get_optimiser(training["optimiser"])
    assert type(rebuilt) is Adam and rebuilt.describe() == description and rebuilt.weight_decay == 1e-4


def test_sgd_with_weight_decay_steps_the_engine_exactly():
    """Not fused: the rule gives g, the engine changes W by -eta (g + lambda W) with the weights before the step."""
    net = bp.models.mlp((6, 7, 3), hidden="tanh")
    rule = bp.Backprop()
    engine = NumpyEngine(net, rule, bp.SquaredError(), seeds=[0, 1], batch_size=5, optimiser=SGD(weight_decay=0.2))
    rng = np.random.default_rng(2)
    x, target = rng.standard_normal((5, 6)), rng.standard_normal((5, 3))
    eta = np.array([0.1, 0.05])
    weights = [w.copy() for w in engine.state_.weights]
    biases = [b.copy() for b in engine.state_.biases]
    g = rule.directions(net, engine.state_, x, target, engine.loss)
    engine.step(x, target, eta)
    for k in range(net.n_layers):
        np.testing.assert_allclose(engine.state_.weights[k], weights[k] - eta[:, None, None] * (g.weights[k] + 0.2 * weights[k]), rtol=1e-14, atol=1e-16)
        np.testing.assert_allclose(engine.state_.biases[k], biases[k] - eta[:, None] * g.biases[k], rtol=1e-14, atol=1e-16)


def _norms(state):
    return np.sqrt(sum(np.sum(w**2, axis=(1, 2)) for w in state.weights))


def test_weight_decay_shrinks_the_weights_that_node_perturbation_grows():
    # A 10-50-5 linear network on a linear teacher, NP at a large learning rate (0.02; 0.04 diverges), 8 epochs of
    # 200 steps of 10 samples: the weights' norm (all layers, seeds 0 and 1) grows from 4.89, 4.91 to 5.33, 5.54 while
    # the error falls (7.2 -> 3e-5); with weight_decay=0.01 it shrinks to 4.19, 4.34 and the error still falls (to 5e-4).
    task = bp.tasks.StudentTeacher(n_inputs=10, n_outputs=5, mode="online", steps_per_epoch=200, n_eval=200, seed=0)

    def run(n_epochs, weight_decay):
        return bp.train(bp.models.mlp((10, 50, 5), hidden="linear"), bp.NodePerturbation(sigma=1e-3), task, n_epochs=n_epochs,
                        learning_rate=0.02, seeds=[0, 1], batch_size=10, optimiser=SGD(weight_decay=weight_decay), progress=False)

    initial = _norms(run(0, 0.0).final_state_)
    plain, decayed = run(8, 0.0), run(8, 0.01)
    assert np.all(_norms(plain.final_state_) > 1.05 * initial)
    assert np.all(_norms(decayed.final_state_) < 0.93 * initial)
    for history in (plain, decayed):
        assert np.all(history.records["test_error"][:, -1] < 1e-2 * history.records["test_error"][:, 0])


@pytest.mark.parametrize("optimiser", [SGD(weight_decay=0.01), Momentum(momentum=0.5, weight_decay=0.01), Adam(weight_decay=0.01)],
                         ids=["sgd", "momentum", "adam"])
def test_checkpoint_and_resume_with_weight_decay_equal_the_uninterrupted_run(optimiser, tmp_path):
    task = bp.tasks.NonlinearStudentTeacher(n_inputs=8, n_hidden=6, n_outputs=3, n_train=200, n_test=100, seed=1)

    def run(n_epochs, checkpoint=None, optimiser=optimiser):
        return bp.train(bp.models.mlp((8, 12, 3), hidden="tanh"), bp.NodePerturbation(sigma=1e-3), task, n_epochs=n_epochs,
                        learning_rate=[2e-3, 5e-3], seeds=[3, 4], batch_size=10, optimiser=optimiser, checkpoint=checkpoint,
                        checkpoint_every=1, progress=False)

    full = run(4)
    checkpoint = tmp_path / "run.checkpoint"
    run(2, checkpoint)
    resumed = run(4, checkpoint)
    for key in full.records:
        np.testing.assert_array_equal(full.records[key], resumed.records[key])
    for a, b in zip(full.final_state_.weights + full.final_state_.biases, resumed.final_state_.weights + resumed.final_state_.biases,
                    strict=True):
        np.testing.assert_array_equal(a, b)
    assert full.config["optimiser"]["weight_decay"] == 0.01
    without = type(optimiser)(**{**optimiser.get_params(), "weight_decay": 0.0})
    with pytest.raises(CheckpointMismatchError, match="differs in: optimiser"):
        run(4, checkpoint, without)  # a checkpoint with decay is not resumed without it
