"""Rules with a feedback pathway (FA, DFA, sign symmetry, Kolen-Pollack, alignment losses) against naive loops and closed forms."""

import numpy as np
import pytest

import bioplastic as bp
from bioplastic.engines.numpy import NumpyEngine
from bioplastic.losses import SquaredError
from bioplastic.network import Network
from bioplastic.neurons import Population
from bioplastic.ops import backprop_deltas, direct_feedback_deltas, forward
from bioplastic.plasticity import (
    ActivationAlignment,
    DirectFeedbackAlignment,
    FeedbackAlignment,
    InformationAlignment,
    KolenPollack,
    SignSymmetry,
    SymmetricAlignment,
    WeightMirror,
)
from bioplastic.plasticity.backprop import output_delta
from bioplastic.synapses import Projection, xavier_std

DERIVATIVES = {"tanh": lambda h: 1 - np.tanh(h) ** 2, "relu": lambda h: (h > 0).astype(float), "linear": np.ones_like}
ACTIVATIONS = {"tanh": np.tanh, "relu": lambda h: np.maximum(h, 0), "linear": lambda h: h}

#: rules whose forward directions come from deltas carried back through B_k = rule_state["B<k>"]
THROUGH_B = [FeedbackAlignment(), KolenPollack(decay=0.0), SymmetricAlignment(), ActivationAlignment(), WeightMirror(),
             InformationAlignment()]


def _setup(sizes=(5, 7, 6, 3), hidden="tanh", n_members=3, batch=4, seed=0):
    rng = np.random.default_rng(seed)
    net = bp.models.mlp(sizes, hidden=hidden)
    state = net.init_state(list(range(n_members)))
    for b in state.biases:
        b[...] = 0.1 * rng.standard_normal(b.shape)
    return net, state, rng.standard_normal((batch, sizes[0])), rng.standard_normal((batch, sizes[-1]))


def _rule_state(rule, net, n_members, dtype=np.float64, seed=5):
    rng = np.random.default_rng(seed)
    own = [rule.init_rule_state(net, rng, dtype) for _ in range(n_members)]
    return {name: np.stack([o[name] for o in own]) for name in own[0]}


def _synaptic_noise(net, n_members, seed=9):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n_members, p.n_post, p.n_pre + 1)) for p in net.projections]


def _naive_updates(net, state, x, target, hidden, back, *, direct=None):
    """Per member and sample: forward pass, deltas carried down by ``back(e, k)`` (an (n_pre, n_post) matrix), mean outer products.

    With ``direct`` (``direct(e, k)``, an (n_k, n_out) matrix) every hidden delta comes from the readout's error instead.
    """
    n_members, batch, n_layers = state.n_members, len(x), net.n_layers
    dw = [np.zeros_like(w) for w in state.weights]
    db = [np.zeros_like(b) for b in state.biases]
    for e in range(n_members):
        for n in range(batch):
            rates, inputs = [x[n]], []
            for k in range(n_layers):
                h = state.weights[k][e] @ rates[-1] + state.biases[k][e]
                inputs.append(h)
                rates.append(h if k == n_layers - 1 else ACTIVATIONS[hidden](h))
            deltas = [None] * n_layers
            deltas[-1] = rates[-1] - target[n]  # linear readout, L = 1/2 |y - y*|^2
            for k in range(n_layers - 2, -1, -1):
                carried = direct(e, k) @ deltas[-1] if direct is not None else back(e, k + 1) @ deltas[k + 1]
                deltas[k] = DERIVATIVES[hidden](inputs[k]) * carried
            for k in range(n_layers):
                dw[k][e] += np.outer(deltas[k], rates[k]) / batch
                db[k][e] += deltas[k] / batch
    return dw, db


def _assert_directions(directions, dw, db, rtol=1e-12):
    for k in range(len(dw)):
        np.testing.assert_allclose(directions.weights[k], dw[k], rtol=rtol, atol=1e-14)
        np.testing.assert_allclose(directions.biases[k], db[k], rtol=rtol, atol=1e-14)


# -- the feedback pathway kernel -------------------------------------------------------------
def test_backprop_deltas_without_feedback_is_backprop_bit_for_bit():
    net, state, x, target = _setup()
    activity = forward(net, state, x)
    top = output_delta(net, activity, target, SquaredError())
    reference = [None, None, top]
    for k in (1, 0):  # delta_k = f'(h_k) * (delta_{k+1} W_{k+1})
        reference[k] = (1 - activity.rates[k + 1] ** 2) * np.matmul(reference[k + 1], state.weights[k + 1])
    for deltas in (backprop_deltas(net, state, activity, top), backprop_deltas(net, state, activity, top, feedback=[None, None, None])):
        for got, expected in zip(deltas, reference, strict=True):
            np.testing.assert_array_equal(got, expected)


def test_backprop_deltas_carry_each_delta_through_its_feedback_matrix():
    net, state, x, target = _setup(hidden="relu")
    activity = forward(net, state, x)
    top = output_delta(net, activity, target, SquaredError())
    rng = np.random.default_rng(1)
    feedback = [None, rng.standard_normal((3, 7, 6)), None]  # B_1 own, projection 2 through W_2^T
    deltas = backprop_deltas(net, state, activity, top, feedback=feedback)
    for e in range(3):
        for n in range(4):
            d2 = top[e, n]
            d1 = (activity.inputs[1][e, n] > 0) * (state.weights[2][e].T @ d2)
            d0 = (activity.inputs[0][e, n] > 0) * (feedback[1][e] @ d1)
            np.testing.assert_allclose(deltas[1][e, n], d1, rtol=1e-13)
            np.testing.assert_allclose(deltas[0][e, n], d0, rtol=1e-13)


def test_feedback_of_the_wrong_length_or_shape_is_refused():
    net, state, x, target = _setup()
    activity = forward(net, state, x)
    top = output_delta(net, activity, target, SquaredError())
    with pytest.raises(ValueError, match=r"feedback should have one entry per projection \(3\), got 2"):
        backprop_deltas(net, state, activity, top, feedback=[None, None])
    with pytest.raises(ValueError, match=r"feedback\[2\] should have shape \(n_members, n_pre, n_post\) = \(3, 6, 3\), got \(3, 3, 6\)"):
        backprop_deltas(net, state, activity, top, feedback=[None, None, np.zeros((3, 3, 6))])
    with pytest.raises(ValueError, match=r"feedback\[0\] should have shape \(n_members, n_k, n_out\) = \(3, 7, 3\), got \(3, 3, 7\)"):
        direct_feedback_deltas(net, activity, top, [np.zeros((3, 3, 7)), None])
    with pytest.raises(ValueError, match=r"one matrix per hidden layer \(2\), got 3"):
        direct_feedback_deltas(net, activity, top, [None, None, None])


# -- every rule against a naive loop ---------------------------------------------------------
@pytest.mark.parametrize("rule", THROUGH_B, ids=repr)
@pytest.mark.parametrize("hidden", ["tanh", "relu"])
def test_forward_directions_equal_a_naive_loop_through_the_feedback_matrices(rule, hidden):
    net, state, x, target = _setup(hidden=hidden)
    rule_state = _rule_state(rule, net, 3)
    directions = rule.directions(net, state, x, target, SquaredError(), rule_state=rule_state, synaptic_noise=_synaptic_noise(net, 3))
    dw, db = _naive_updates(net, state, x, target, hidden, lambda e, k: rule_state[f"B{k}"][e])
    _assert_directions(directions, dw, db)


def test_direct_feedback_alignment_equals_a_naive_loop():
    net, state, x, target = _setup()
    rule = DirectFeedbackAlignment()
    rule_state = _rule_state(rule, net, 3)
    assert {k: v.shape for k, v in rule_state.items()} == {"D0": (3, 7, 3), "D1": (3, 6, 3)}
    directions = rule.directions(net, state, x, target, SquaredError(), rule_state=rule_state)
    dw, db = _naive_updates(net, state, x, target, "tanh", None, direct=lambda e, k: rule_state[f"D{k}"][e])
    _assert_directions(directions, dw, db)


@pytest.mark.parametrize("magnitude", ["usf", "frsf", "brsf"])
@pytest.mark.parametrize("scaled", [True, False])
def test_sign_symmetry_equals_a_naive_loop_through_signs_and_magnitudes(magnitude, scaled):
    net, state, x, target = _setup()
    rule = SignSymmetry(magnitude=magnitude, scaled=scaled)
    rule_state = _rule_state(rule, net, 3)
    noise = _synaptic_noise(net, 3)
    assert rule.uses_noise == (magnitude == "brsf") == rule.noise_needs(net).any
    assert rule.noise_needs(net).synapse == ((False, True, True) if magnitude == "brsf" else (False,) * 3)
    assert sorted(rule_state) == (["M1", "M2"] if magnitude == "frsf" else [])

    def back(e, k):
        w = state.weights[k][e]
        unit = xavier_std(w.shape[1], w.shape[0]) if scaled else 1.0
        if magnitude == "usf":
            magnitudes = unit * np.ones(w.T.shape)
        elif magnitude == "frsf":
            magnitudes = rule_state[f"M{k}"][e]
            assert np.all(magnitudes >= 0)
        else:
            magnitudes = unit * np.abs(noise[k][e][:, : w.shape[1]]).T
        return magnitudes * np.sign(w).T

    directions = rule.directions(net, state, x, target, SquaredError(), rule_state=rule_state, synaptic_noise=noise)
    dw, db = _naive_updates(net, state, x, target, "tanh", back)
    _assert_directions(directions, dw, db)


def test_fixed_random_sign_magnitudes_follow_the_xavier_distribution():
    net = bp.models.mlp((5, 40, 30))
    magnitudes = SignSymmetry(magnitude="frsf").init_rule_state(net, np.random.default_rng(0), np.float64)["M1"]
    # |z| of a standard normal has mean sqrt(2 / pi)
    assert magnitudes.shape == (40, 30)
    np.testing.assert_allclose(magnitudes.mean() / xavier_std(40, 30), np.sqrt(2 / np.pi), rtol=0.05)


@pytest.mark.parametrize("rule", THROUGH_B, ids=repr)
def test_with_b_equal_to_w_transposed_the_updates_are_backprops(rule):
    net, state, x, target = _setup()
    rule_state = _rule_state(rule, net, 3)
    for k in (1, 2):
        rule_state[f"B{k}"][...] = state.weights[k].transpose(0, 2, 1)
    got = rule.directions(net, state, x, target, SquaredError(), rule_state=rule_state, synaptic_noise=_synaptic_noise(net, 3))
    expected = bp.Backprop().directions(net, state, x, target, SquaredError())
    for a, b in zip(got.weights + got.biases, expected.weights + expected.biases, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)


def test_direct_feedback_through_the_products_of_transposed_weights_is_backprop_in_a_linear_network():
    net, state, x, target = _setup(sizes=(4, 6, 5, 3), hidden="linear")
    rule_state = {"D1": state.weights[2].transpose(0, 2, 1).copy(),
                  "D0": np.matmul(state.weights[2], state.weights[1]).transpose(0, 2, 1).copy()}  # (W_2 W_1)^T
    got = DirectFeedbackAlignment().directions(net, state, x, target, SquaredError(), rule_state=rule_state)
    expected = bp.Backprop().directions(net, state, x, target, SquaredError())
    for a, b in zip(got.weights + got.biases, expected.weights + expected.biases, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_direct_feedback_alignment_is_feedback_alignment_with_one_hidden_layer():
    task = bp.tasks.NonlinearStudentTeacher(n_inputs=4, n_hidden=5, n_outputs=2, n_train=40, n_test=20, seed=0)
    runs = [bp.train(bp.models.mlp((4, 9, 2), hidden="tanh"), rule, task, n_epochs=2, learning_rate=0.05, seeds=[3, 8], batch_size=8,
                     progress=False) for rule in (FeedbackAlignment(), DirectFeedbackAlignment())]
    np.testing.assert_array_equal(runs[0].records["test_error"], runs[1].records["test_error"])


def test_feedback_matrices_are_drawn_from_the_projections_distribution():
    net = Network([Population(60), Population(80), Population(50)],
                  projections=[Projection(60, 80), Projection(80, 50, init="zeros", init_scale=2.0)])
    b = FeedbackAlignment(feedback_scale=0.5).init_rule_state(net, np.random.default_rng(0), np.float32)["B1"]
    assert b.shape == (80, 50) and b.dtype == np.float32
    np.testing.assert_allclose(b.std(), 0.5 * 2.0 * np.sqrt(2 / 130), rtol=0.03)  # Xavier also when W starts at zero


def test_a_missing_rule_state_or_missing_noise_is_refused_with_what_is_needed():
    net, state, x, target = _setup()
    with pytest.raises(ValueError, match=r"FeedbackAlignment.directions needs its rule state \['B1', 'B2'\]"):
        FeedbackAlignment().directions(net, state, x, target, SquaredError())
    with pytest.raises(ValueError, match=r"needs synaptic noise in projections 1 \.\. L - 1"):
        SignSymmetry(magnitude="brsf").directions(net, state, x, target, SquaredError())
    rule = WeightMirror()
    with pytest.raises(ValueError, match=r"WeightMirror.directions needs synaptic noise \(the noise inputs\)"):
        rule.directions(net, state, x, target, SquaredError(), rule_state=_rule_state(rule, net, 3))


# -- Kolen-Pollack ------------------------------------------------------------------------------
def test_kolen_pollack_gives_b_the_transposed_update_of_w_and_decays_both():
    net, state, x, target = _setup()
    rule = KolenPollack(decay=0.01)
    rule_state = _rule_state(rule, net, 3)
    scale = np.array([-0.1, -0.2, -0.3])
    directions = rule.directions(net, state, x, target, SquaredError(), rule_state=rule_state, scale=scale)
    dw, db = _naive_updates(net, state, x, target, "tanh", lambda e, k: rule_state[f"B{k}"][e])
    for k in range(3):
        expected = scale[:, None, None] * (dw[k] + 0.02 * state.weights[k])
        np.testing.assert_allclose(directions.weights[k], expected, rtol=1e-12)
        np.testing.assert_allclose(directions.biases[k], scale[:, None] * db[k], rtol=1e-12)  # no decay on biases
    assert sorted(directions.state) == ["B1", "B2"]
    for k in (1, 2):
        expected = scale[:, None, None] * (dw[k].transpose(0, 2, 1) + 0.02 * rule_state[f"B{k}"])
        np.testing.assert_allclose(directions.state[f"B{k}"], expected, rtol=1e-12)


def test_kolen_pollack_shrinks_the_asymmetry_by_exactly_one_minus_two_eta_decay_per_sgd_step():
    task = bp.tasks.NonlinearStudentTeacher(n_inputs=5, n_hidden=4, n_outputs=3, n_train=40, n_test=10, seed=2)
    net = bp.models.mlp((5, 8, 6, 3), hidden="tanh")
    engine = NumpyEngine(net, KolenPollack(decay=0.05), SquaredError(), seeds=[0, 1], batch_size=10)
    eta = np.array([0.1, 0.3])
    before = [w - engine.rule_state_[f"B{k}"].transpose(0, 2, 1) for k, w in enumerate(engine.state_.weights) if k > 0]
    for start in range(0, 40, 10):
        engine.step(task.x_train[start:start + 10], task.y_train[start:start + 10], eta)
    after = [engine.state_.weights[k] - engine.rule_state_[f"B{k}"].transpose(0, 2, 1) for k in (1, 2)]
    for a, b in zip(after, before, strict=True):
        np.testing.assert_allclose(a, (1 - 2 * eta * 0.05)[:, None, None] ** 4 * b, rtol=1e-12)


def _angle(w, b):
    """Angle in degrees between W_k (n_members, n_post, n_pre) and B_k^T, per member."""
    bt = b.transpose(0, 2, 1)
    cos = np.einsum("eij,eij->e", w, bt) / (np.linalg.norm(w, axis=(1, 2)) * np.linalg.norm(bt, axis=(1, 2)))
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def _train_engine(rule, *, sizes=(8, 20, 3), n_epochs=10, lr=0.05, seeds=(0, 1, 2), batch=10):
    task = bp.tasks.NonlinearStudentTeacher(n_inputs=sizes[0], n_hidden=6, n_outputs=sizes[-1], n_train=200, n_test=100, seed=1)
    net = bp.models.mlp(sizes, hidden="tanh")
    engine = NumpyEngine(net, rule, SquaredError(), seeds=list(seeds), batch_size=batch)
    lrs = np.full(len(seeds), lr)

    def test_error():
        return SquaredError()(engine.predict(task.x_test), task.y_test).mean(axis=1)

    angles, errors = [_angle(engine.state_.weights[1], engine.rule_state_["B1"])], [test_error()]
    rng = np.random.default_rng(0)
    for _ in range(n_epochs):
        order = rng.permutation(task.n_train)
        engine.start_epoch(task.n_train // batch)
        for start in range(0, task.n_train, batch):
            idx = order[start:start + batch]
            engine.step(task.x_train[idx], task.y_train[idx], lrs)
    angles.append(_angle(engine.state_.weights[1], engine.rule_state_["B1"]))
    errors.append(test_error())
    return np.array(angles), np.array(errors)


def test_feedback_alignment_learns_the_student_teacher_task_and_aligns_w_with_b():
    angles, errors = _train_engine(FeedbackAlignment())
    # measured (3 members, 10 epochs, eta = 0.05): test error 1.52, 1.02, 1.03 -> 0.042, 0.060, 0.058;
    # angle(W_1, B_1^T) 85.5, 89.8, 88.7 -> 56.3, 76.1, 73.2 degrees
    assert np.all(errors[1] < 0.1 * errors[0]), errors
    assert np.all(np.abs(angles[0] - 90) < 10) and np.all(angles[1] < 80) and np.all(angles[1] < angles[0] - 10), angles


def test_kolen_pollack_and_symmetric_alignment_drive_the_angle_between_w_and_b_down():
    kp, _ = _train_engine(KolenPollack(decay=0.05), n_epochs=20)
    sa, _ = _train_engine(SymmetricAlignment(alpha=0.05, beta=0.1), n_epochs=20)
    fa, _ = _train_engine(FeedbackAlignment(), n_epochs=20)
    # measured after 20 epochs (400 steps, eta = 0.05), from 85.5, 89.8, 88.7 degrees:
    # KP 12.9, 19.2, 17.8; SA 8.3, 10.1, 8.2; FA 53.4, 73.4, 71.1
    assert np.all(kp[1] < 25) and np.all(sa[1] < 15), (kp, sa)
    assert np.all(kp[1] < fa[1] - 30) and np.all(sa[1] < fa[1] - 30)


# -- weight mirror ---------------------------------------------------------------------------------
def test_weight_mirror_on_white_noise_converges_to_beta_s2_over_2_alpha_times_w_transposed():
    """R = alpha (|W|^2 + |B|^2) - beta E[(W x) . (B^T x)], x ~ N(0, s^2 I), W fixed:
    dR/dB = 2 alpha B - beta E[x x^T] W^T = 2 alpha B - beta s^2 W^T = 0 at B* = (beta s^2 / 2 alpha) W^T.

    Each step sees n_post = 200 noise inputs of width n_pre = 10, so the time average of B over T steps
    misses B* by about sqrt(n_pre / n_post) / sqrt(T) = 0.011 (relative) for T = 400.
    """
    alpha, beta, s = 0.25, 0.5, 2.0
    fixed = [Projection(6, 10, plastic=False), Projection(10, 200, plastic=False)]
    net = Network([Population(6), Population(10, activation="tanh"), Population(200)], projections=fixed)
    engine = NumpyEngine(net, WeightMirror(alpha=alpha, beta=beta, noise_std=s), SquaredError(), seeds=[0, 1], batch_size=4)
    x, target = np.ones((4, 6)), np.zeros((4, 200))
    weights = [w.copy() for w in engine.state_.weights]
    n_steps, burn_in, eta = 600, 200, 0.1  # B relaxes by 2 alpha eta = 5% a step
    engine.start_epoch(n_steps)
    mean = 0.0
    for i in range(n_steps):
        engine.step(x, target, np.full(2, eta))
        if i >= burn_in:
            mean = mean + engine.rule_state_["B1"] / (n_steps - burn_in)
    for w, w0 in zip(engine.state_.weights, weights, strict=True):
        np.testing.assert_array_equal(w, w0)  # the forward weights are held fixed
    expected = beta * s**2 / (2 * alpha) * weights[1].transpose(0, 2, 1)
    relative = np.linalg.norm(mean - expected, axis=(1, 2)) / np.linalg.norm(expected, axis=(1, 2))
    # measured: 0.0105, 0.0100 (angles 0.59, 0.57 degrees)
    assert np.all(relative < 0.025), relative
    assert np.all(_angle(weights[1], mean) < 1.5)


# -- through the training loop -------------------------------------------------------------------------
@pytest.mark.parametrize("rule", [SignSymmetry(magnitude="frsf"), SignSymmetry(magnitude="usf", scaled=False)], ids=repr)
def test_sign_symmetry_members_equal_solo_runs_and_resume_from_a_checkpoint(rule, tmp_path):
    task = bp.tasks.NonlinearStudentTeacher(n_inputs=6, n_hidden=4, n_outputs=2, n_train=60, n_test=30, seed=0)
    kwargs = dict(batch_size=10, progress=False)
    ensemble = bp.train(bp.models.mlp((6, 9, 7, 2), hidden="tanh"), rule, task, n_epochs=2, learning_rate=[0.01, 0.02], seeds=[1, 2], **kwargs)
    assert np.all(ensemble.records["test_error"][:, -1] < ensemble.records["test_error"][:, 0])
    solo = bp.train(bp.models.mlp((6, 9, 7, 2), hidden="tanh"), rule, task, n_epochs=2, learning_rate=float(ensemble.learning_rates[3]),
                    seeds=[int(ensemble.seeds[3])], **kwargs)
    np.testing.assert_allclose(ensemble.records["test_error"][3], solo.records["test_error"][0], rtol=64 * np.finfo(float).eps)
    adam = dict(learning_rate=[1e-3, 3e-3], seeds=[1, 2], optimiser="adam", **kwargs)
    full = bp.train(bp.models.mlp((6, 9, 7, 2), hidden="tanh"), rule, task, n_epochs=3, **adam)
    bp.train(bp.models.mlp((6, 9, 7, 2), hidden="tanh"), rule, task, n_epochs=1, checkpoint=tmp_path / "c", checkpoint_every=1, **adam)
    resumed = bp.train(bp.models.mlp((6, 9, 7, 2), hidden="tanh"), rule, task, n_epochs=3, checkpoint=tmp_path / "c", checkpoint_every=1, **adam)
    np.testing.assert_array_equal(full.records["test_error"], resumed.records["test_error"])


@pytest.mark.parametrize("rule", [KolenPollack(decay=bp.plasticity.Schedule(value=0.01, kind="linear", rate=0.02, total_steps=12)),
                                  InformationAlignment(alpha=0.05, beta=0.02, gamma=0.02), WeightMirror(alpha=0.05, beta=0.05)], ids=repr)
@pytest.mark.parametrize("optimiser", ["sgd", "momentum"])
def test_rule_state_stepped_member_block_by_member_block_equals_one_block(rule, optimiser):
    """With one member per block the rule state is stepped through views of the engine's arrays: the same run."""
    task = bp.tasks.NonlinearStudentTeacher(n_inputs=6, n_hidden=4, n_outputs=2, n_train=40, n_test=10, seed=0)
    net = bp.models.mlp((6, 9, 7, 2), hidden="tanh")
    engines = [NumpyEngine(net, rule, SquaredError(), seeds=[0, 1, 2], batch_size=10, member_block=block, n_threads=1, optimiser=optimiser)
               for block in (3, 1)]
    assert [len(e._blocks) for e in engines] == [1, 3]
    for engine in engines:
        engine.start_epoch(12)
        for step in range(12):
            start = 10 * (step % 4)
            engine.step(task.x_train[start:start + 10], task.y_train[start:start + 10], np.array([0.02, 0.05, 0.1]))
    for name in engines[0].rule_state_:
        np.testing.assert_allclose(engines[1].rule_state_[name], engines[0].rule_state_[name], rtol=1e-12, atol=1e-15)
    for a, b in zip(engines[1].state_.weights, engines[0].state_.weights, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    if "step" in engines[0].rule_state_:
        np.testing.assert_array_equal(engines[1].rule_state_["step"], 12)
