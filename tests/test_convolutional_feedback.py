"""The feedback-alignment family on convolutional networks: kernel-shaped feedback, the alignment primitives of a convolution.

The training runs of these rules (member = solo, resumed bit for bit) are in test_convolutional_networks, beside every other rule's.
"""

import numpy as np
import pytest
from cnn_helpers import LAYERS, assert_same_directions, random_batch, small_cnn
from conftest import state_away_from_init

import bioplastic as bp
from bioplastic.losses import SquaredError
from bioplastic.ops import conv_projection_input, conv_projection_transpose, forward
from bioplastic.plasticity import ALIGNMENT_PRIMITIVES, FeedbackRule, NoiseNeeds
from bioplastic.synapses import ConvProjection, xavier_std

#: convolutions whose alignment primitives are checked: padding and pooling; a stride
GEOMETRIES = {
    "padded_pooled": ConvProjection((2, 5, 4), 3, 2, padding=1, pool=2),
    "strided": ConvProjection((3, 5, 5), 2, 3, stride=2),
}


def _rule_state(rule, net, seeds=(0, 1)):
    own = [rule.init_rule_state(net, np.random.default_rng(s), np.float64) for s in seeds]
    return {name: np.stack([o[name] for o in own]) for name in own[0]}


def _kernels(projection, n_members=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n_members,) + projection.shape), rng.standard_normal((n_members,) + projection.shape)


def _matrix_of(projection, kernels):
    """The (n_post, n_pre) matrix of ``T_K x = pool(conv(x, K))`` of every member, from its action on the identity."""
    return np.swapaxes(conv_projection_input(projection, np.eye(projection.n_pre), kernels), -1, -2)


# -- the primitives of a convolution ----------------------------------------------------------------------------------


@pytest.mark.parametrize("geometry", sorted(GEOMETRIES))
def test_feedback_kernel_as_a_matrix_is_the_transposed_convolution(geometry):
    proj = GEOMETRIES[geometry]
    _, b = _kernels(proj)
    y = np.random.default_rng(2).standard_normal((2, 3, proj.n_post))
    b_dense = np.swapaxes(_matrix_of(proj, b), -1, -2)  # (n_pre, n_post): the matrix of T_B^*
    np.testing.assert_allclose(conv_projection_transpose(proj, y, b), np.matmul(y, np.swapaxes(b_dense, -1, -2)), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["amp", "null", "sparse"])
@pytest.mark.parametrize("geometry", sorted(GEOMETRIES))
@pytest.mark.parametrize("shared_x", [False, True])
def test_input_primitives_of_a_convolution_are_the_dense_primitives_of_its_matrices(name, geometry, shared_x):
    # W_dense = matrix of T_W (n_post, n_pre), B_dense = matrix of T_B^* (n_pre, n_post); the gradient with respect to the
    # kernel is the dense gradient contracted with the matrix of each kernel basis element (B_dense is linear in B)
    proj = GEOMETRIES[geometry]
    w, b = _kernels(proj)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, proj.n_pre) if shared_x else (2, 5, proj.n_pre))
    loss, gradient = ALIGNMENT_PRIMITIVES[name]
    w_dense, b_dense = _matrix_of(proj, w), np.swapaxes(_matrix_of(proj, b), -1, -2)
    np.testing.assert_allclose(loss(w, b, x, projection=proj), loss(w_dense, b_dense, x), rtol=1e-12)
    dense = gradient(w_dense, b_dense, x)
    expected = np.zeros_like(b)
    for idx in np.ndindex(proj.shape):
        basis = np.zeros((1,) + proj.shape)
        basis[(0,) + idx] = 1.0
        expected[(slice(None),) + idx] = np.sum(dense * np.swapaxes(_matrix_of(proj, basis), -1, -2), axis=(-2, -1))
    np.testing.assert_allclose(gradient(w, b, x, projection=proj), expected, rtol=1e-10, atol=1e-12)
    wx = conv_projection_input(proj, x, w)  # the precomputed forward projection gives the same
    np.testing.assert_allclose(gradient(w, b, x, wx=wx, projection=proj), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("geometry", sorted(GEOMETRIES))
def test_weight_primitives_of_a_convolution_act_on_the_kernels(geometry):
    proj = GEOMETRIES[geometry]
    w, b = _kernels(proj)
    for e in range(2):
        assert ALIGNMENT_PRIMITIVES["decay"][0](w, b, projection=proj)[e] == pytest.approx(np.sum(w[e] ** 2) + np.sum(b[e] ** 2), rel=1e-13)
        assert ALIGNMENT_PRIMITIVES["self"][0](w, b, projection=proj)[e] == pytest.approx(-np.dot(w[e].ravel(), b[e].ravel()), rel=1e-13)
    np.testing.assert_array_equal(ALIGNMENT_PRIMITIVES["decay"][1](w, b, projection=proj), 2 * b)
    np.testing.assert_array_equal(ALIGNMENT_PRIMITIVES["self"][1](w, b, projection=proj), -w)


@pytest.mark.parametrize("name", sorted(ALIGNMENT_PRIMITIVES))
@pytest.mark.parametrize("geometry", sorted(GEOMETRIES))
def test_each_primitive_gradient_of_a_convolution_equals_finite_differences(name, geometry):
    proj = GEOMETRIES[geometry]
    w, b = _kernels(proj)
    x = np.random.default_rng(4).standard_normal((2, 5, proj.n_pre))
    loss, gradient = ALIGNMENT_PRIMITIVES[name]
    numeric = np.zeros_like(b)
    for idx in np.ndindex(proj.shape):  # both members at once: their losses do not interact
        plus, minus = b.copy(), b.copy()
        plus[(slice(None),) + idx] += 1e-6
        minus[(slice(None),) + idx] -= 1e-6
        numeric[(slice(None),) + idx] = (loss(w, plus, x, projection=proj) - loss(w, minus, x, projection=proj)) / 2e-6
    np.testing.assert_allclose(gradient(w, b, x, projection=proj), numeric, rtol=1e-6, atol=1e-7)


def test_amp_on_white_inputs_counts_each_kernel_weight_once_per_output_position():
    # x = sqrt(n_pre) e_i for every i: E[x x^T] = I exactly; without padding or pooling dR/dB = -P W, P = 3 x 4 positions
    proj = ConvProjection((2, 4, 5), 3, 2)
    w, b = _kernels(proj)
    x = np.sqrt(proj.n_pre) * np.eye(proj.n_pre)
    np.testing.assert_allclose(ALIGNMENT_PRIMITIVES["amp"][1](w, b, x, projection=proj), -12 * w, rtol=1e-12, atol=1e-12)


# -- sign symmetry and Kolen-Pollack on kernels -----------------------------------------------------------------------


def test_sign_symmetry_feedback_kernels_have_the_forward_kernels_signs_and_the_chosen_magnitudes():
    net = small_cnn()
    state = state_away_from_init(net)
    w = state.weights[1]
    out_channels, in_channels, kh, kw = net.projections[1].shape
    unit = xavier_std(in_channels * kh * kw, out_channels * kh * kw)  # the std the kernels are drawn with
    np.testing.assert_array_equal(bp.SignSymmetry().feedback_matrices(net, state, {})[1], unit * np.sign(w))
    np.testing.assert_array_equal(bp.SignSymmetry(scaled=False).feedback_matrices(net, state, {})[1], np.sign(w))

    frsf = bp.SignSymmetry(magnitude="frsf")
    one = frsf.init_rule_state(net, np.random.default_rng(7), np.float64)
    rng = np.random.default_rng(7)  # drawn in the order of the projections, a kernel at the convolution
    np.testing.assert_array_equal(one["M1"], unit * np.abs(rng.standard_normal((out_channels, in_channels, kh, kw))))
    np.testing.assert_array_equal(one["M2"], net.projections[2].init_scale * xavier_std(16, 5) * np.abs(rng.standard_normal((16, 5))))
    rule_state = _rule_state(frsf, net)
    np.testing.assert_array_equal(frsf.feedback_matrices(net, state, rule_state)[1], rule_state["M1"] * np.sign(w))

    brsf = bp.SignSymmetry(magnitude="brsf")
    rng = np.random.default_rng(8)
    noise = [None] + [rng.standard_normal((2, p.shape[0], int(np.prod(p.shape[1:])) + 1)) for p in net.projections[1:]]
    kernel_noise = noise[1][:, :, :-1].reshape(w.shape)  # the kernel's draw, without the bias column
    np.testing.assert_array_equal(brsf.feedback_matrices(net, state, {}, synaptic_noise=noise)[1], unit * np.abs(kernel_noise) * np.sign(w))
    with pytest.raises(ValueError, match=r"reads the magnitudes of projection 1's kernels \(4, 3, 2, 2\) from its synaptic noise, which "
                                         r"should have shape \(n_members, >= 4, >= 12\), got \(2, 4, 5\)"):
        brsf.feedback_matrices(net, state, {}, synaptic_noise=[None, noise[1][:, :, :5]] + noise[2:])


def _sign_symmetry_with_unit_kernels(net, state):
    """|W| = 1 above the first projection: sign(W) = W, so the transposed convolution with B is backprop's."""
    for k in range(1, net.n_layers):
        state.weights[k][...] = np.where(state.weights[k] >= 0, 1.0, -1.0)
    return bp.SignSymmetry(scaled=False), {}


def _kolen_pollack_with_symmetric_feedback(net, state):
    """B1 = W1 (the kernel itself) and B_k = W_k^T above: the feedback pathway is backprop's."""
    rule_state = {"B1": state.weights[1].copy()} | {f"B{k}": np.swapaxes(state.weights[k], -1, -2).copy() for k in range(2, net.n_layers)}
    return bp.KolenPollack(decay=0.0), dict(rule_state=rule_state)


@pytest.mark.parametrize("setup", [_sign_symmetry_with_unit_kernels, _kolen_pollack_with_symmetric_feedback], ids=lambda f: f.__name__[1:])
def test_a_feedback_rule_whose_feedback_pathway_is_backprops_is_backprop_bit_for_bit(setup):
    net = small_cnn()
    state = state_away_from_init(net)
    rule, kw = setup(net, state)
    x, target = random_batch()
    got = rule.directions(net, state, x, target, SquaredError(), **kw)
    assert_same_directions(got, bp.Backprop().directions(net, state, x, target, SquaredError()))


def test_kolen_pollack_feedback_kernel_gets_the_kernels_update_and_both_decay():
    net = small_cnn()
    state = state_away_from_init(net)
    x, target = random_batch()
    plain, decaying = bp.KolenPollack(decay=0.0), bp.KolenPollack(decay=0.05)
    rule_state = _rule_state(plain, net)
    g = plain.directions(net, state, x, target, SquaredError(), rule_state=rule_state)
    np.testing.assert_array_equal(g.state["B1"], g.weights[1])  # the kernel's update itself, no transpose
    np.testing.assert_array_equal(g.state["B2"], np.swapaxes(g.weights[2], -1, -2))  # dense: the transposed update
    d = decaying.directions(net, state, x, target, SquaredError(), rule_state=rule_state)
    np.testing.assert_allclose(d.state["B1"], g.weights[1] + 0.1 * rule_state["B1"], rtol=1e-13, atol=1e-15)
    for k in range(net.n_layers):
        np.testing.assert_allclose(d.weights[k], g.weights[k] + 0.1 * state.weights[k], rtol=1e-13, atol=1e-15)
    # plain SGD steps both by -eta (g + 2 decay .): W - B shrinks by (1 - 2 eta decay) exactly
    eta = 0.3
    before = state.weights[1] - rule_state["B1"]
    after = (state.weights[1] - eta * d.weights[1]) - (rule_state["B1"] - eta * d.state["B1"])
    np.testing.assert_allclose(after, (1 - 2 * eta * 0.05) * before, rtol=1e-12, atol=1e-14)


# -- the alignment-loss rules on a convolutional network --------------------------------------------------------------


def _coefficients(rule):
    return {parameter: np.full(2, getattr(rule, parameter)) for parameter in rule.coefficients}


@pytest.mark.parametrize("rule", [bp.SymmetricAlignment(), bp.ActivationAlignment(), bp.InformationAlignment(alpha=0.3, beta=0.2, gamma=0.1)],
                         ids=lambda r: type(r).__name__)
def test_alignment_rules_feedback_kernel_descends_the_loss_of_the_convolutions_matrices(rule):
    # on the clean pass's input to the convolution, with its biases: the direction of B1 is the dense rule's gradient on the
    # matrices, taken back to the kernel
    net = small_cnn()
    state = state_away_from_init(net)
    x, target = random_batch()
    rule_state = _rule_state(rule, net)
    got = rule.directions(net, state, x, target, SquaredError(), rule_state=rule_state, scale=np.array([1.0, 2.0]))
    proj, w, b = net.projections[1], state.weights[1], rule_state["B1"]
    pre = forward(net, state, x).presynaptic[1]
    expected = rule.alignment_gradient(w, b, pre, _coefficients(rule), projection=proj)
    np.testing.assert_allclose(got.state["B1"], expected * np.array([1.0, 2.0])[:, None, None, None, None], rtol=1e-12, atol=1e-15)
    # the loss: the input terms on the convolution's matrices, decay and self on the kernels
    w_dense, b_dense = _matrix_of(proj, w), np.swapaxes(_matrix_of(proj, b), -1, -2)
    on_kernels = {"decay": np.sum(w**2, axis=(1, 2, 3, 4)) + np.sum(b**2, axis=(1, 2, 3, 4)), "self": -np.sum(w * b, axis=(1, 2, 3, 4))}
    expected_loss = sum(getattr(rule, parameter) * (on_kernels[primitive] if primitive in on_kernels
                                                    else ALIGNMENT_PRIMITIVES[primitive][0](w_dense, b_dense, pre))
                        for primitive, parameter in rule.terms)
    np.testing.assert_allclose(rule.alignment_loss(w, b, pre, _coefficients(rule), projection=proj), expected_loss, rtol=1e-12)
    if isinstance(rule, bp.SymmetricAlignment):  # 2 alpha B - beta W: at rest at B = (beta / 2 alpha) W
        np.testing.assert_allclose(got.state["B1"][0], 2e-3 * b[0] - 2e-3 * w[0], rtol=1e-12, atol=1e-16)


def test_weight_mirror_takes_a_convolutions_noise_maps_from_the_presynaptic_channel():
    net = small_cnn()
    for rule in (bp.WeightMirror(), bp.WeightMirror(noise_inputs="presynaptic")):
        needs = rule.noise_needs(net)
        synaptic = (False, False, True, True) if rule.noise_inputs == "synaptic" else (False,) * 4
        presynaptic = (False, True, False, False) if rule.noise_inputs == "synaptic" else (False, True, True, True)
        assert needs == NoiseNeeds((False,) * 4, synaptic, presynaptic)
    assert bp.WeightMirror().noise_needs(bp.models.mlp((4, 3, 2))) == NoiseNeeds((False,) * 2, (False, True))  # all-to-all: unchanged
    rule = bp.WeightMirror(alpha=0.1, beta=0.4, noise_std=0.5)
    state = state_away_from_init(net)
    x, target = random_batch()
    rng = np.random.default_rng(5)
    synaptic = [None, None] + [rng.standard_normal((2, p.n_post, p.n_pre + 1)) for p in net.projections[2:]]
    presynaptic = [None, rng.standard_normal((2, len(x), net.projections[1].n_pre)), None, None]
    rule_state = _rule_state(rule, net)
    got = rule.directions(net, state, x, target, SquaredError(), synaptic_noise=synaptic, presynaptic_noise=presynaptic, rule_state=rule_state)
    expected = rule.alignment_gradient(state.weights[1], rule_state["B1"], 0.5 * presynaptic[1], _coefficients(rule), projection=net.projections[1])
    np.testing.assert_allclose(got.state["B1"], expected, rtol=1e-12, atol=1e-15)
    dense = rule.alignment_gradient(state.weights[2], rule_state["B2"], 0.5 * synaptic[2][:, :, :-1], _coefficients(rule))
    np.testing.assert_allclose(got.state["B2"], dense, rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match=r"needs presynaptic noise \(the noise inputs\) in projections \[1\]"):
        rule.directions(net, state, x, target, SquaredError(), synaptic_noise=synaptic, rule_state=rule_state)


# -- what is refused --------------------------------------------------------------------------------------------------


class _DenseOnlyFeedback(FeedbackRule):
    """A feedback rule that does not declare kernel-shaped feedback."""

    name = "dense_only_feedback_for_tests"


def test_a_feedback_rule_without_kernel_feedback_is_refused_by_name():
    with pytest.raises(ValueError, match=r"_DenseOnlyFeedback does not run on convolutional projections \(projection 1: ConvProjection\(.*\): "
                                         r"it does not set conv_feedback = True"):
        _DenseOnlyFeedback().init_rule_state(small_cnn(), np.random.default_rng(0), np.float64)


@pytest.mark.parametrize("rule", [bp.ActivationAlignment(), bp.WeightMirror(), bp.InformationAlignment()], ids=lambda r: type(r).__name__)
def test_alignment_losses_on_inputs_refuse_a_max_pooled_convolution(rule):
    layers = [LAYERS["average"][0], dict(out_channels=4, kernel_size=2, padding=1, pool=2, pool_mode="max")]
    net = bp.models.cnn((2, 7, 6), layers, 3, dense=(5,), hidden="tanh")
    terms = ", ".join(p for p, _ in rule.terms if p in ("amp", "null", "sparse"))
    with pytest.raises(ValueError, match=rf"{type(rule).__name__} does not run on max-pooled convolutional projections \(projection 1: .*\): "
                                         rf"the terms {terms} of its alignment loss need the projection's linear map"):
        rule.init_rule_state(net, np.random.default_rng(0), np.float64)
    assert set(bp.SymmetricAlignment().init_rule_state(net, np.random.default_rng(0), np.float64)) == {"B1", "B2", "B3"}  # no input terms
    with pytest.raises(ValueError, match=r"the alignment primitives on inputs \(amp, null, sparse\) need a linear projection"):
        ALIGNMENT_PRIMITIVES["amp"][1](*_kernels(net.projections[1]), np.zeros((2, net.projections[1].n_pre)), projection=net.projections[1])
