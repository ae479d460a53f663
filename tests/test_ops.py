"""Array kernels with the ensemble axis, each against a naive loop over members and samples."""

import importlib
import inspect
import pkgutil

import numpy as np
import pytest
from scipy import stats

import bioplastic.ops
from bioplastic import Network, NetworkState, Population, Projection
from bioplastic.ops import (
    NOISE_TYPES,
    Activity,
    Workspace,
    affine,
    backprop_deltas,
    deltas_to_updates,
    draw_noise,
    forward,
    outer_sum,
    outer_sum_transposed,
    perturbation_change,
    predict,
    scratch,
    shared_member,
    synaptic_perturbation_change,
)

#: derivatives written out, independent of the activations' own ``vjp``
DERIVATIVES = {
    "linear": lambda h: np.ones_like(h),
    "relu": lambda h: (h > 0).astype(float),
    "tanh": lambda h: 1 - np.tanh(h) ** 2,
    "sigmoid": lambda h: np.exp(-h) / (1 + np.exp(-h)) ** 2,
}


def _network(sizes, *, hidden="tanh", readout="linear", bias=True, plastic=True):
    """A network of ``sizes``; ``bias`` and ``plastic`` are one flag for all projections or one per projection."""
    n = len(sizes) - 1
    bias = [bias] * n if isinstance(bias, bool) else bias
    plastic = [plastic] * n if isinstance(plastic, bool) else plastic
    pops = [Population(sizes[0], noise=None)] + [Population(s, activation=hidden) for s in sizes[1:-1]]
    pops.append(Population(sizes[-1], activation=readout))
    projs = [Projection(sizes[k], sizes[k + 1], bias=bias[k], plastic=plastic[k]) for k in range(n)]
    return Network(pops, projections=projs)


def _state(network, n_members, seed=0, dtype=np.float64):
    state = network.init_state(list(range(seed, seed + n_members)), dtype=dtype)
    rng = np.random.default_rng(seed)
    for b in state.biases:
        if b is not None:
            b[...] = 0.3 * rng.standard_normal(b.shape)
    return state


def _naive_pass(network, state, e, x_b, *, dh=None, dw=None):
    """One member's pass on one sample: summed inputs and rates, with optional extra input ``dh[k]``
    and weight (and bias, last column) changes ``dw[k]``."""
    inputs, rates = [], [x_b]
    for k, activation in enumerate(network.activations):
        w = state.weights[k][e]
        b = np.zeros(w.shape[0]) if state.biases[k] is None else state.biases[k][e]
        if dw is not None and dw[k] is not None:
            w = w + dw[k][:, :-1]
            if state.biases[k] is not None:
                b = b + dw[k][:, -1]
        h = w @ rates[-1] + b
        if dh is not None and dh[k] is not None:
            h = h + dh[k]
        inputs.append(h)
        rates.append(activation(h))
    return inputs, rates


# ----------------------------------------------------------------------------- passes
@pytest.mark.parametrize("shared_input", [True, False])
@pytest.mark.parametrize("with_bias", [True, False])
def test_affine_matches_loop(shared_input, with_bias):
    rng = np.random.default_rng(0)
    n_members, batch, n_pre, n_post = 3, 4, 5, 2
    x = rng.standard_normal((batch, n_pre) if shared_input else (n_members, batch, n_pre))
    weights = rng.standard_normal((n_members, n_post, n_pre))
    bias = rng.standard_normal((n_members, n_post)) if with_bias else None
    expected = np.zeros((n_members, batch, n_post))
    for e in range(n_members):
        for b in range(batch):
            x_b = x[b] if shared_input else x[e, b]
            expected[e, b] = weights[e] @ x_b + (bias[e] if with_bias else 0)
    np.testing.assert_allclose(affine(x, weights, bias), expected, rtol=1e-13, atol=1e-15)
    out = np.full((n_members, batch, n_post), np.nan)
    assert affine(x, weights, bias, out=out) is out
    np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("hidden,readout", [("tanh", "linear"), ("relu", "softmax"), ("sigmoid", "tanh")])
def test_forward_matches_loop(hidden, readout):
    network = _network((4, 6, 5, 3), hidden=hidden, readout=readout, bias=[True, False, True])
    state = _state(network, 2)
    x = np.random.default_rng(1).standard_normal((5, 4))
    activity = forward(network, state, x)
    assert activity.rates[0] is x and activity.output is activity.rates[-1]
    for e in range(2):
        for b in range(5):
            inputs, rates = _naive_pass(network, state, e, x[b])
            for k in range(network.n_layers):
                np.testing.assert_allclose(activity.inputs[k][e, b], inputs[k], rtol=1e-12, atol=1e-14)
                np.testing.assert_allclose(activity.rates[k + 1][e, b], rates[k + 1], rtol=1e-12, atol=1e-14)
    workspace = Workspace()
    for _ in range(2):
        reused = forward(network, state, x, workspace=workspace)
        for a, c in zip(activity.inputs + activity.rates, reused.inputs + reused.rates, strict=True):
            assert np.array_equal(a, c)


def test_forward_dtype_follows_inputs_and_state():
    network = _network((3, 4, 2))
    state32 = _state(network, 2, dtype=np.float32)
    assert forward(network, state32, np.ones((2, 3), dtype=np.float32)).output.dtype == np.float32
    assert forward(network, state32, np.ones((2, 3))).output.dtype == np.float64


@pytest.mark.parametrize("sizes,bias", [
    ((4, 3), True),
    ((4, 6, 3), [True, False]),
    ((4, 6, 5, 3), [False, True, True]),
    ((3, 5, 4, 6, 2), True),
])
@pytest.mark.parametrize("chunk_size", [None, 3, 64])
def test_predict_matches_loop(sizes, bias, chunk_size):
    """Every depth (the first layer's shared GEMM, the second layer's transposed input, deeper layers), a chunk
    size that leaves a remainder, one larger than the data, and the default."""
    network = _network(sizes, hidden="relu", readout="softmax", bias=bias)
    state = _state(network, 3)
    x = np.random.default_rng(2).standard_normal((10, sizes[0]))
    expected = np.array([[_naive_pass(network, state, e, x[b])[1][-1] for b in range(10)] for e in range(3)])
    got = predict(network, state, x, chunk_size=chunk_size)
    assert got.shape == (3, 10, sizes[-1])
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)
    out = np.full_like(expected, np.nan)
    assert predict(network, state, x, chunk_size=chunk_size, out=out) is out
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-14)


def test_predict_linear_readout_and_float32():
    network = _network((3, 4, 2), hidden="linear", readout="linear")
    state = _state(network, 2, dtype=np.float32)
    x = np.random.default_rng(3).standard_normal((7, 3)).astype(np.float32)
    got = predict(network, state, x, chunk_size=2)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, forward(network, state, x).output, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- outer products
@pytest.mark.parametrize("shared_pre", [True, False])
def test_outer_sum_and_transposed_match_loop(shared_pre):
    rng = np.random.default_rng(4)
    n_members, batch, n_post, n_pre = 3, 5, 4, 2
    post = rng.standard_normal((n_members, batch, n_post))
    pre = rng.standard_normal((batch, n_pre) if shared_pre else (n_members, batch, n_pre))
    expected = np.zeros((n_members, n_post, n_pre))
    for e in range(n_members):
        for b in range(batch):
            expected[e] += np.outer(post[e, b], pre[b] if shared_pre else pre[e, b])
    np.testing.assert_allclose(outer_sum(post, pre), expected, rtol=1e-13, atol=1e-14)
    post_t = np.ascontiguousarray(post.transpose(0, 2, 1))
    np.testing.assert_allclose(outer_sum_transposed(post_t, pre), expected, rtol=1e-13, atol=1e-14)
    for call in (lambda out: outer_sum(post, pre, out=out), lambda out: outer_sum_transposed(post_t, pre, out=out)):
        out = np.full((n_members, n_post, n_pre), np.nan)
        call(out)
        np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-14)


def _naive_updates(network, activity, deltas, coefficient):
    """``sum_b c_b delta_b x_b^T`` (and ``sum_b c_b delta_b``), one member and one sample at a time."""
    weights, biases = [], []
    for k, proj in enumerate(network.projections):
        if deltas[k] is None or not proj.plastic:
            weights.append(None)
            biases.append(None)
            continue
        delta, pre = deltas[k], activity.rates[k]
        n_members, batch, n_post = delta.shape
        c = np.broadcast_to(coefficient, (n_members, batch, n_post))
        w = np.zeros((n_members, n_post, pre.shape[-1]))
        b = np.zeros((n_members, n_post))
        for e in range(n_members):
            for s in range(batch):
                x = pre[s] if pre.ndim == 2 else pre[e, s]
                w[e] += np.outer(c[e, s] * delta[e, s], x)
                b[e] += c[e, s] * delta[e, s]
        weights.append(w)
        biases.append(b if proj.bias else None)
    return weights, biases


# wide layers (n_pre + bias < n_post) with per-sample factors take the presynaptic side
@pytest.mark.parametrize("sizes,side", [((2, 9, 12), "pre"), ((9, 3, 2), "post")])
@pytest.mark.parametrize("coefficient_shape", ["per_sample", "per_member", "per_neuron", "scalar"])
@pytest.mark.parametrize("shared_delta", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_deltas_to_updates_matches_loop(sizes, side, coefficient_shape, shared_delta, bias):
    network = _network(sizes, bias=bias)
    n_members, batch = 3, 6
    rng = np.random.default_rng(5)
    state = _state(network, n_members)
    x = rng.standard_normal((batch, sizes[0]))
    activity = forward(network, state, x)
    deltas = [rng.standard_normal((n_members, batch, n)) for n in sizes[1:]]
    if shared_delta:  # members with one noise stream: a broadcast view
        deltas = [np.broadcast_to(d[:1], d.shape) for d in deltas]
    coefficient = {
        "per_sample": rng.standard_normal((n_members, batch, 1)),
        "per_member": rng.standard_normal((n_members, 1, 1)),
        "per_neuron": rng.standard_normal((n_members, batch, sizes[-1])),
        "scalar": np.float64(-0.7),
    }[coefficient_shape]
    if coefficient_shape == "per_neuron":  # one value per neuron of the last layer only
        deltas[0] = None
    expected_w, expected_b = _naive_updates(network, activity, deltas, coefficient)
    workspace = Workspace()
    for ws in (None, workspace):
        weights, biases = deltas_to_updates(network, activity, deltas, coefficient, workspace=ws)
        for k in range(network.n_layers):
            if expected_w[k] is None:
                assert weights[k] is None and biases[k] is None
                continue
            np.testing.assert_allclose(weights[k], expected_w[k], rtol=1e-12, atol=1e-13)
            if bias:
                np.testing.assert_allclose(biases[k], expected_b[k], rtol=1e-12, atol=1e-13)
            else:
                assert biases[k] is None
    # the per-sample factors went into the side with fewer values (the presynaptic one has a scratch array)
    took_pre_side = ("scaled_pre", 1) in workspace._arrays
    assert took_pre_side == (side == "pre" and coefficient_shape == "per_sample")


def test_deltas_to_updates_skips_missing_deltas_and_non_plastic_projections():
    network = _network((3, 4, 5, 2), plastic=[True, False, True])
    state = _state(network, 2)
    rng = np.random.default_rng(6)
    activity = forward(network, state, rng.standard_normal((4, 3)))
    deltas = [None] + [rng.standard_normal((2, 4, n)) for n in (5, 2)]
    weights, biases = deltas_to_updates(network, activity, deltas, np.ones((2, 4, 1)))
    assert weights[:2] == [None, None] and biases[:2] == [None, None]
    np.testing.assert_allclose(weights[2], _naive_updates(network, activity, deltas, np.ones((2, 4, 1)))[0][2], rtol=1e-12)


# ----------------------------------------------------------------------------- errors carried back
@pytest.mark.parametrize("hidden", sorted(DERIVATIVES))
@pytest.mark.parametrize("first_layer", [0, 1])
def test_backprop_deltas_match_loop(hidden, first_layer):
    network = _network((4, 6, 5, 3), hidden=hidden)
    state = _state(network, 2)
    rng = np.random.default_rng(7)
    activity = forward(network, state, rng.standard_normal((3, 4)))
    output_delta = rng.standard_normal((2, 3, 3))
    deltas = backprop_deltas(network, state, activity, output_delta, first_layer=first_layer)
    assert deltas[-1] is output_delta
    assert all(d is None for d in deltas[:first_layer])
    derivative = DERIVATIVES[hidden]
    for e in range(2):
        for b in range(3):
            delta = output_delta[e, b]
            for k in range(network.n_layers - 2, first_layer - 1, -1):
                delta = derivative(activity.inputs[k][e, b]) * (state.weights[k + 1][e].T @ delta)
                np.testing.assert_allclose(deltas[k][e, b], delta, rtol=1e-12, atol=1e-14)
    reused = backprop_deltas(network, state, activity, output_delta, first_layer=first_layer, workspace=Workspace())
    for a, c in zip(deltas, reused, strict=True):
        assert (a is None and c is None) or np.array_equal(a, c)


# ----------------------------------------------------------------------------- perturbations
@pytest.mark.parametrize("hidden,readout", [("tanh", "linear"), ("relu", "softmax"), ("sigmoid", "sigmoid"), ("linear", "linear")])
@pytest.mark.parametrize("perturbed", ["all", "from_second", "last"])
@pytest.mark.parametrize("shared_noise", [False, True])
def test_perturbation_change_matches_two_full_passes(hidden, readout, perturbed, shared_noise):
    network = _network((4, 6, 5, 3), hidden=hidden, readout=readout, bias=[True, False, True])
    n_members, batch, sigma = 3, 4, 1e-3
    state = _state(network, n_members)
    rng = np.random.default_rng(8)
    x = rng.standard_normal((batch, 4))
    activity = forward(network, state, x)
    noise = [rng.standard_normal((n_members, batch, n)) for n in (6, 5, 3)]
    if shared_noise:
        noise = [np.broadcast_to(n[:1], n.shape) for n in noise]
    first = {"all": 0, "from_second": 1, "last": 2}[perturbed]
    noise = [None] * first + noise[first:]
    changes = perturbation_change(network, state, activity, noise, sigma)
    assert all(c is None for c in changes[:first])
    for e in range(n_members):
        for b in range(batch):
            _, clean = _naive_pass(network, state, e, x[b])
            _, perturbed_rates = _naive_pass(network, state, e, x[b], dh=[None if n is None else sigma * n[e, b] for n in noise])
            for k in range(first, network.n_layers):
                direct = perturbed_rates[k + 1] - clean[k + 1]
                # the direct difference has a rounding error of about eps |x| / |dx| ~ 1e-13 relative
                np.testing.assert_allclose(changes[k][e, b], direct, rtol=1e-8, atol=1e-14)
    reused = perturbation_change(network, state, activity, noise, sigma, workspace=Workspace())
    for a, c in zip(changes, reused, strict=True):
        assert (a is None and c is None) or np.array_equal(a, c)


@pytest.mark.parametrize("hidden,readout", [("tanh", "linear"), ("relu", "softmax"), ("linear", "linear")])
@pytest.mark.parametrize("perturbed", [(True, True, True), (False, True, True), (True, False, False), (False, False, True)])
def test_synaptic_perturbation_change_matches_two_full_passes(hidden, readout, perturbed):
    """The change equals the difference of a pass with ``W + sigma psi`` (and ``b + sigma psi^b``) and a clean one."""
    network = _network((4, 6, 5, 3), hidden=hidden, readout=readout, bias=[True, False, True])
    n_members, batch, sigma = 2, 3, 1e-3
    state = _state(network, n_members)
    rng = np.random.default_rng(9)
    x = rng.standard_normal((batch, 4))
    activity = forward(network, state, x)
    noise = [rng.standard_normal((n_members, n_post, n_pre + 1)) if p else None
             for p, (n_post, n_pre) in zip(perturbed, [(6, 4), (5, 6), (3, 5)], strict=True)]
    if noise[1] is not None:
        noise[1][:, :, -1] = 1e6  # the bias-less projection ignores the bias column
    changes = synaptic_perturbation_change(network, state, activity, noise, sigma)
    first = perturbed.index(True)
    assert all(c is None for c in changes[:first])
    for e in range(n_members):
        for b in range(batch):
            _, clean = _naive_pass(network, state, e, x[b])
            _, perturbed_rates = _naive_pass(network, state, e, x[b], dw=[None if n is None else sigma * n[e] for n in noise])
            for k in range(first, network.n_layers):
                np.testing.assert_allclose(changes[k][e, b], perturbed_rates[k + 1] - clean[k + 1], rtol=1e-8, atol=1e-14)
    reused = synaptic_perturbation_change(network, state, activity, noise, sigma, workspace=Workspace())
    for a, c in zip(changes, reused, strict=True):
        assert (a is None and c is None) or np.array_equal(a, c)


def test_perturbation_change_keeps_precision_in_float32():
    """sigma = 1e-4 in float32: the propagated change keeps float32's digits, two passes lose most of them."""
    network = _network((6, 20, 4), hidden="tanh")
    state = _state(network, 2, dtype=np.float32)
    rng = np.random.default_rng(10)
    x = rng.standard_normal((8, 6)).astype(np.float32)
    noise = [rng.standard_normal((2, 8, n)).astype(np.float32) for n in (20, 4)]
    sigma = 1e-4
    ours = perturbation_change(network, state, forward(network, state, x), noise, sigma)[-1]
    state64 = NetworkState([w.astype(np.float64) for w in state.weights], [b.astype(np.float64) for b in state.biases])
    x64, noise64 = x.astype(np.float64), [n.astype(np.float64) for n in noise]
    exact = perturbation_change(network, state64, forward(network, state64, x64), noise64, sigma)[-1]
    err = np.linalg.norm(ours - exact) / np.linalg.norm(exact)
    assert ours.dtype == np.float32 and err < 1e-5, err


# ----------------------------------------------------------------------------- noise
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", NOISE_TYPES)
def test_draw_noise_has_zero_mean_and_unit_variance(kind, dtype):
    """Within 5 standard errors for N samples: the mean's is 1 / sqrt(N); the sample variance's is
    sqrt((mu4 - 1) / N) with the fourth moment mu4 = 3 (Gaussian). Rademacher values square to 1, so their
    sample variance is exactly 1 - mean^2, within 25 / N of 1."""
    shape = (1000, 1001)  # odd size: exercises the Box-Muller remainder
    xi = draw_noise(np.random.default_rng(3), kind, shape, dtype)
    assert xi.dtype == dtype and xi.shape == shape
    xi = xi.astype(np.float64).ravel()
    n = xi.size
    assert abs(xi.mean()) < 5 / np.sqrt(n)
    if kind == "rademacher":
        assert set(np.unique(xi)) == {-1.0, 1.0}
        assert abs(xi.var() - 1) < 25 / n
    else:
        assert abs(xi.var() - 1) < 5 * np.sqrt(2 / n)
        fourth = np.mean(xi**4)  # its standard error is sqrt((mu8 - mu4^2) / N) = sqrt(96 / N)
        assert abs(fourth - 3) < 5 * np.sqrt(96 / n)
        # neighbours, and the two halves that make Box-Muller pairs, are uncorrelated
        half = (n + 1) // 2
        assert abs(np.corrcoef(xi[:-1], xi[1:])[0, 1]) < 5 / np.sqrt(n)
        assert abs(np.corrcoef(xi[: n - half], xi[half:])[0, 1]) < 5 / np.sqrt(n - half)
        assert stats.kstest(xi, "norm").pvalue > 1e-3


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", NOISE_TYPES)
def test_draw_noise_into_out_and_reproducible(kind, dtype):
    fresh = draw_noise(np.random.default_rng(5), kind, (4, 7), dtype)
    assert fresh.dtype == dtype and fresh.shape == (4, 7)
    out = np.full((4, 7), np.nan, dtype=dtype)
    assert draw_noise(np.random.default_rng(5), kind, (4, 7), dtype, out=out) is out
    np.testing.assert_array_equal(out, fresh)
    # a non-contiguous destination gets the same values
    strided = np.full((7, 4), np.nan, dtype=dtype).T
    assert draw_noise(np.random.default_rng(5), kind, (4, 7), dtype, out=strided) is strided
    np.testing.assert_array_equal(strided, fresh)
    assert not np.array_equal(fresh, draw_noise(np.random.default_rng(6), kind, (4, 7), dtype))


def test_draw_noise_float64_is_the_float32_draw_cast():
    """Gaussian noise comes from float32 uniforms whatever the dtype (so both dtypes see one stream)."""
    a = draw_noise(np.random.default_rng(2), "gaussian", (9,), np.float64)
    b = draw_noise(np.random.default_rng(2), "gaussian", (9,), np.float32)
    np.testing.assert_array_equal(a, b.astype(np.float64))


def test_draw_noise_rejects_unknown_kind():
    with pytest.raises(ValueError) as info:
        draw_noise(np.random.default_rng(0), "uniform", (3,))
    assert str(info.value) == "unknown noise 'uniform'; expected one of ('gaussian', 'rademacher')"


# ----------------------------------------------------------------------------- workspace
def test_workspace_reuses_arrays_by_name_shape_and_dtype():
    workspace = Workspace()
    a = workspace.get("h", (2, 3), np.float64)
    assert workspace.get("h", (2, 3), np.float64) is a
    assert workspace.get("h", (2, 4), np.float64) is not a
    b = workspace.get("h", (2, 4), np.float64)
    assert workspace.get("h", (2, 4), np.float32) is not b
    assert scratch(workspace, "x", [2, 2], "float32") is scratch(workspace, "x", (2, 2), np.float32)
    fresh = scratch(None, "x", (2, 2), np.float32)
    assert fresh.shape == (2, 2) and fresh.dtype == np.float32 and fresh is not scratch(None, "x", (2, 2), np.float32)


def test_shared_member_detects_broadcast_views_only():
    base = np.arange(6.0).reshape(1, 2, 3)
    view = np.broadcast_to(base, (4, 2, 3))
    assert shared_member(view) is not None and np.array_equal(shared_member(view), base[0])
    assert shared_member(np.repeat(base, 4, axis=0)) is None
    assert shared_member(base) is None  # one member: nothing to share


def test_every_public_kernel_is_exported():
    """Each ops module lists all its public functions and classes in ``__all__``, and the package exports them."""
    for info in pkgutil.iter_modules(bioplastic.ops.__path__):
        module = importlib.import_module(f"bioplastic.ops.{info.name}")
        public = {name for name, value in vars(module).items()
                  if not name.startswith("_") and (inspect.isfunction(value) or inspect.isclass(value))
                  and value.__module__ == module.__name__}
        assert public <= set(module.__all__), (info.name, sorted(public - set(module.__all__)))
        assert set(module.__all__) <= set(bioplastic.ops.__all__), (info.name, sorted(set(module.__all__) - set(bioplastic.ops.__all__)))
    assert Activity is bioplastic.ops.passes.Activity


def test_covariance_participation_ratio_against_eigenvalues():
    from bioplastic.ops.statistics import covariance_participation_ratio

    rng = np.random.default_rng(3)
    a = rng.standard_normal((4, 6, 6))
    cov = a @ a.transpose(0, 2, 1)
    eig = np.linalg.eigvalsh(cov)
    np.testing.assert_allclose(covariance_participation_ratio(cov), eig.sum(1) ** 2 / (eig**2).sum(1), rtol=1e-12)
    assert covariance_participation_ratio(np.zeros((3, 3))) == 0.0
    assert covariance_participation_ratio(np.eye(5)) == 5.0
