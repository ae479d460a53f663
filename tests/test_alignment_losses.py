"""Alignment primitives and the alignment-loss rules: naive loops, finite differences, fixed points, schedules."""

import sys
import textwrap

import numpy as np
import pytest

import bioplastic as bp
from bioplastic.losses import SquaredError
from bioplastic.plasticity import (
    ALIGNMENT_PRIMITIVES,
    ActivationAlignment,
    AlignmentRule,
    InformationAlignment,
    KolenPollack,
    Schedule,
    SymmetricAlignment,
    WeightMirror,
    check_coefficient,
    get_rule,
    registered_rules,
)


def _arrays(n_members=3, n_post=4, n_pre=5, batch=6, seed=0, shared_x=False):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((n_members, n_post, n_pre))
    b = rng.standard_normal((n_members, n_pre, n_post))
    x = rng.standard_normal((batch, n_pre) if shared_x else (n_members, batch, n_pre))
    return w, b, x


def _naive_primitive(name, w, b, x):
    """One member, sample by sample, written from the definitions."""
    samples = list(x)
    if name == "decay":
        return np.sum(w**2) + np.sum(b**2)
    if name == "self":
        return -np.trace(w @ b)
    if name == "amp":
        return -np.mean([np.dot(w @ s, b.T @ s) for s in samples])
    if name == "null":
        return np.mean([np.sum((b @ (w @ s)) ** 2) for s in samples])
    if name == "sparse":
        return np.mean([np.sum((w @ s) ** 2) for s in samples]) + np.mean([np.sum((b.T @ s) ** 2) for s in samples])
    raise AssertionError(name)


@pytest.mark.parametrize("name", sorted(ALIGNMENT_PRIMITIVES))
@pytest.mark.parametrize("shared_x", [False, True])
def test_each_primitive_equals_its_definition_sample_by_sample(name, shared_x):
    w, b, x = _arrays(shared_x=shared_x)
    loss, _ = ALIGNMENT_PRIMITIVES[name]
    got = loss(w, b, x)
    expected = [_naive_primitive(name, w[e], b[e], x if shared_x else x[e]) for e in range(3)]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize("name", sorted(ALIGNMENT_PRIMITIVES))
@pytest.mark.parametrize("shared_x", [False, True])
def test_each_primitives_gradient_with_respect_to_b_equals_finite_differences(name, shared_x):
    w, b, x = _arrays(shared_x=shared_x)
    loss, gradient = ALIGNMENT_PRIMITIVES[name]
    got = gradient(w, b, x)
    assert got.shape == b.shape
    eps = 1e-6
    numeric = np.zeros_like(b)
    for idx in np.ndindex(b.shape):
        plus, minus = b.copy(), b.copy()
        plus[idx] += eps
        minus[idx] -= eps
        numeric[idx] = (loss(w, plus, x)[idx[0]] - loss(w, minus, x)[idx[0]]) / (2 * eps)
    np.testing.assert_allclose(got, numeric, rtol=1e-7, atol=1e-8)


def test_primitives_take_a_precomputed_forward_projection():
    w, b, x = _arrays()
    wx = np.matmul(x, w.transpose(0, 2, 1))
    for name in ("amp", "null", "sparse"):
        loss, gradient = ALIGNMENT_PRIMITIVES[name]
        np.testing.assert_allclose(loss(w, b, x, wx=wx), loss(w, b, x), rtol=1e-13)
        np.testing.assert_allclose(gradient(w, b, x, wx=wx), gradient(w, b, x), rtol=1e-13)


def _white(n_pre, s, batch=None):
    """Inputs whose sample covariance is exactly s^2 I: scaled rows of an orthogonal matrix."""
    q, _ = np.linalg.qr(np.random.default_rng(3).standard_normal((batch or n_pre, n_pre)))
    return s * np.sqrt(len(q)) * q


def test_the_rules_fixed_points_on_white_inputs():
    """dR/dB = 0 at the closed-form fixed points (E[x x^T] = s^2 I exactly)."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((1, 4, 6))
    s = 1.5
    x = _white(6, s)
    wt = w.transpose(0, 2, 1)
    fixed_points = {
        SymmetricAlignment(alpha=0.3, beta=0.2): 0.2 / (2 * 0.3) * wt,  # 2 alpha B = beta W^T
        WeightMirror(alpha=0.3, beta=0.2, noise_std=s): 0.2 * s**2 / (2 * 0.3) * wt,  # 2 alpha B = beta s^2 W^T
        ActivationAlignment(alpha=0.3, beta=0.2): 0.2 / (2 * 0.3) * wt,  # 2 alpha s^2 B = beta s^2 W^T
        # alpha s^2 W^T = B (2 beta s^2 W W^T + 2 gamma I)
        InformationAlignment(alpha=0.3, beta=0.2, gamma=0.1): 0.3 * s**2 * wt @ np.linalg.inv(2 * 0.2 * s**2 * w @ wt + 2 * 0.1 * np.eye(4)),
    }
    for rule, b in fixed_points.items():
        coefficients = {name: np.array([getattr(rule, name)]) for name in rule.coefficients}
        gradient = rule.alignment_gradient(w, b, x, coefficients)
        np.testing.assert_allclose(gradient, 0, atol=1e-13)
        assert np.abs(rule.alignment_gradient(w, 1.1 * b, x, coefficients)).max() > 1e-3  # and only there


@pytest.mark.parametrize("rule", [SymmetricAlignment(alpha=0.3, beta=0.2), ActivationAlignment(alpha=0.3, beta=0.2),
                                  InformationAlignment(alpha=0.3, beta=0.2, gamma=0.1), WeightMirror(alpha=0.3, beta=0.2, noise_std=2.0)],
                         ids=repr)
def test_the_feedback_directions_are_the_alignment_gradients_on_the_rules_inputs(rule):
    """B's direction, times scale, against a sample-by-sample sum of the terms on the layer's input (or the noise inputs)."""
    net = bp.models.mlp((5, 7, 6, 3), hidden="tanh")
    state = net.init_state([0, 1])
    rng = np.random.default_rng(1)
    x, target = rng.standard_normal((4, 5)), rng.standard_normal((4, 3))
    rule_state = {k: np.stack([v, v]) for k, v in rule.init_rule_state(net, rng, np.float64).items()}
    noise = [rng.standard_normal((2, p.n_post, p.n_pre + 1)) for p in net.projections]
    scale = np.array([-0.5, -2.0])
    directions = rule.directions(net, state, x, target, SquaredError(), rule_state=rule_state, synaptic_noise=noise, scale=scale)
    activity = bp.ops.forward(net, state, x)
    assert sorted(directions.state) == ["B1", "B2"]
    for k in (1, 2):
        for e in range(2):
            w, b = state.weights[k][e], rule_state[f"B{k}"][e]
            inputs = rule.noise_std * noise[k][e][:, : w.shape[1]] if isinstance(rule, WeightMirror) else activity.rates[k][e]
            expected = np.zeros_like(b)
            for primitive, parameter in rule.terms:
                c = getattr(rule, parameter)
                if primitive == "decay":
                    expected += c * 2 * b
                elif primitive == "self":
                    expected -= c * w.T
                else:
                    for s in inputs:
                        y, z = w @ s, b.T @ s
                        term = {"amp": -np.outer(s, y), "null": 2 * np.outer(b @ y, y), "sparse": 2 * np.outer(s, z)}[primitive]
                        expected += c * term / len(inputs)
            np.testing.assert_allclose(directions.state[f"B{k}"][e], scale[e] * expected, rtol=1e-11, atol=1e-14)


def test_the_optimiser_steps_b_down_its_alignment_gradient_with_the_members_learning_rate():
    task = bp.tasks.NonlinearStudentTeacher(n_inputs=4, n_hidden=3, n_outputs=2, n_train=20, n_test=10, seed=0)
    net = bp.models.mlp((4, 6, 2), hidden="tanh")
    rule = SymmetricAlignment(alpha=0.1, beta=0.3)
    for optimiser in ("sgd", "momentum"):
        engine = bp.engines.numpy.NumpyEngine(net, rule, SquaredError(), seeds=[0, 1], batch_size=20, optimiser=optimiser)
        b, w = engine.rule_state_["B1"].copy(), engine.state_.weights[1].copy()
        eta = np.array([0.01, 0.05])
        engine.step(task.x_train, task.y_train, eta)
        # first step: the change is -eta dR/dB for SGD and for momentum (zero velocity)
        expected = b - eta[:, None, None] * (2 * 0.1 * b - 0.3 * w.transpose(0, 2, 1))
        np.testing.assert_allclose(engine.rule_state_["B1"], expected, rtol=1e-13)


# -- schedules -------------------------------------------------------------------------------------
def test_schedules_follow_the_fraction_of_training():
    steps = np.array([0, 25, 50, 75, 100, 101])
    constant = Schedule(value=0.5)
    assert constant.is_constant
    np.testing.assert_array_equal(constant(steps), 0.5)
    linear = Schedule(value=1.0, kind="linear", rate=2.0, start=0.25, stop=0.75, total_steps=100)
    np.testing.assert_allclose(linear(steps), [0, 1.0, 1.5, 2.0, 0, 0])
    exponential = Schedule(value=1.0, kind="exponential", rate=-4.0, total_steps=100)
    np.testing.assert_allclose(exponential(steps), [1, np.exp(-1), np.exp(-2), np.exp(-3), np.exp(-4), 0])
    switched_on = Schedule(value=3.0, start=0.5, total_steps=100)
    np.testing.assert_array_equal(switched_on(steps), [0, 0, 3, 3, 3, 0])
    falling = Schedule(value=2e-3, kind="linear", rate=-2e-3, total_steps=1000)
    np.testing.assert_allclose(falling([0, 500, 1000]), [2e-3, 1e-3, 0.0], atol=1e-18)
    np.testing.assert_array_equal(Schedule(value=1.0, kind="linear", rate=-4.0, total_steps=10)([5]), [0.0])  # clipped at zero


def test_bad_schedules_and_coefficients_are_refused_with_their_name():
    with pytest.raises(ValueError, match=r"a Schedule of kind 'linear' from 0.0 to 1.0 needs total_steps"):
        Schedule(value=1.0, kind="linear", rate=1.0)
    with pytest.raises(ValueError, match=r"Schedule stop should be larger than start \(0.5\), got 0.5"):
        Schedule(value=1.0, start=0.5, stop=0.5, total_steps=10)
    with pytest.raises(ValueError, match=r"unknown Schedule kind 'cosine'"):
        Schedule(value=1.0, kind="cosine")
    with pytest.raises(ValueError, match=r"Schedule value must be >= 0, got -1.0"):
        Schedule(value=-1.0)
    with pytest.raises(ValueError, match=r"alpha must be >= 0, got -0.1"):
        SymmetricAlignment(alpha=-0.1)
    with pytest.raises(TypeError, match=r"beta should be a number >= 0 or a Schedule, got 'big'"):
        WeightMirror(beta="big")
    with pytest.raises(ValueError, match=r"unknown gamma schedule key\(s\) \['speed'\]"):
        InformationAlignment(gamma={"value": 1.0, "speed": 2})
    with pytest.raises(ValueError, match=r"decay: a Schedule of kind 'exponential'"):
        KolenPollack(decay={"value": 1.0, "kind": "exponential", "rate": 1.0})
    built = check_coefficient({"value": 1.0, "kind": "linear", "rate": 1.0, "total_steps": 5}, "alpha")
    assert isinstance(built, Schedule) and built.describe() == {"value": 1.0, "kind": "linear", "rate": 1.0, "start": 0.0, "stop": 1.0,
                                                                 "total_steps": 5}


def test_a_scheduled_coefficient_keeps_a_step_counter_in_the_rule_state():
    net = bp.models.mlp((4, 6, 5, 2), hidden="tanh")
    rule = SymmetricAlignment(alpha=0.1, beta=Schedule(value=0.2, kind="linear", rate=-0.2, total_steps=4))
    assert "step" not in SymmetricAlignment().init_rule_state(net, np.random.default_rng(0), np.float64)
    task = bp.tasks.NonlinearStudentTeacher(n_inputs=4, n_hidden=3, n_outputs=2, n_train=20, n_test=10, seed=0)
    engine = bp.engines.numpy.NumpyEngine(net, rule, SquaredError(), seeds=[0], batch_size=20)
    assert engine.rule_state_["step"].shape == (1,)
    for i in range(5):
        b, w = engine.rule_state_["B2"].copy(), engine.state_.weights[2].copy()
        beta = max(0.2 - 0.2 * i / 4, 0.0)
        engine.step(task.x_train, task.y_train, np.array([0.5]))
        np.testing.assert_allclose(engine.rule_state_["B2"], b - 0.5 * (0.2 * b - beta * w.transpose(0, 2, 1)), rtol=1e-13)
        assert engine.rule_state_["step"][0] == i + 1


def test_a_scheduled_rule_resumes_from_a_checkpoint_at_its_step(tmp_path):
    task = bp.tasks.NonlinearStudentTeacher(n_inputs=4, n_hidden=3, n_outputs=2, n_train=40, n_test=10, seed=0)
    rule = SymmetricAlignment(alpha=0.05, beta=Schedule(value=0.1, kind="exponential", rate=-3.0, start=0.2, total_steps=16))
    kwargs = dict(learning_rate=0.05, seeds=[1, 2], batch_size=10, progress=False)
    full = bp.train(bp.models.mlp((4, 6, 5, 2)), rule, task, n_epochs=4, **kwargs)
    bp.train(bp.models.mlp((4, 6, 5, 2)), rule, task, n_epochs=2, checkpoint=tmp_path / "c", checkpoint_every=1, **kwargs)
    resumed = bp.train(bp.models.mlp((4, 6, 5, 2)), rule, task, n_epochs=4, checkpoint=tmp_path / "c", checkpoint_every=1, **kwargs)
    np.testing.assert_array_equal(full.records["test_error"], resumed.records["test_error"])


# -- a user's own alignment rule ---------------------------------------------------------------------
USER_ALIGNMENT = '''
from bioplastic.plasticity import AlignmentRule, check_coefficient


class AmpNull(AlignmentRule):
    """B descends alpha amp + beta null on the layer's input."""

    name = "amp_null_alignment"
    terms = (("amp", "alpha"), ("null", "beta"))

    def __init__(self, *, alpha=1e-2, beta=1e-2, feedback_scale=1.0, batch_reduction="mean"):
        super().__init__(feedback_scale=feedback_scale, batch_reduction=batch_reduction)
        self.alpha = check_coefficient(alpha, "alpha")
        self.beta = check_coefficient(beta, "beta")
'''


def test_a_user_composes_an_alignment_rule_from_the_primitives(tmp_path, monkeypatch):
    (tmp_path / "my_alignment.py").write_text(textwrap.dedent(USER_ALIGNMENT))
    monkeypatch.syspath_prepend(str(tmp_path))
    import my_alignment

    try:
        rule = get_rule("amp_null_alignment", alpha=0.02)
        assert registered_rules()["amp_null_alignment"] is my_alignment.AmpNull
        assert rule.coefficients == ("alpha", "beta") and rule.signal == "feedback"
        net = bp.models.mlp((4, 6, 5, 2), hidden="tanh")
        state = net.init_state([0])
        rng = np.random.default_rng(0)
        x, target = rng.standard_normal((8, 4)), rng.standard_normal((8, 2))
        rule_state = {k: v[None] for k, v in rule.init_rule_state(net, rng, np.float64).items()}
        directions = rule.directions(net, state, x, target, SquaredError(), rule_state=rule_state)
        activity = bp.ops.forward(net, state, x)
        amp, null = ALIGNMENT_PRIMITIVES["amp"][1], ALIGNMENT_PRIMITIVES["null"][1]
        for k in (1, 2):
            w, b, inputs = state.weights[k], rule_state[f"B{k}"], activity.rates[k]
            np.testing.assert_allclose(directions.state[f"B{k}"], 0.02 * amp(w, b, inputs) + 0.01 * null(w, b, inputs), rtol=1e-12)
        task = bp.tasks.NonlinearStudentTeacher(n_inputs=8, n_hidden=6, n_outputs=3, n_train=200, n_test=100, seed=1)
        history = bp.train(bp.models.mlp((8, 12, 3), hidden="tanh"), rule, task, n_epochs=3, learning_rate=0.05, batch_size=10,
                           progress=False)
        assert history.records["test_error"][0, -1] < history.records["test_error"][0, 0]
    finally:
        bp.plasticity.RULES.pop("amp_null_alignment", None)
        sys.modules.pop("my_alignment", None)


def test_an_alignment_rule_naming_an_unknown_primitive_is_refused():
    with pytest.raises(ValueError, match=r"Bad.terms names the primitive 'cosine'; expected one of \['amp', 'decay', 'null', 'self', 'sparse'\]"):
        type("Bad", (AlignmentRule,), {"terms": (("cosine", "alpha"),)})
    assert "Bad" not in {cls.__name__ for cls in registered_rules().values()}
