"""Activation functions, their cancellation-free differences and the intrinsic noise."""

import numpy as np
import pytest

from bioplastic.neurons import ACTIVATIONS, NOISE_TYPES, Population, draw_noise, get_activation

NAMES = sorted(ACTIVATIONS)


@pytest.mark.parametrize("name", NAMES)
def test_vjp_matches_finite_differences(name):
    rng = np.random.default_rng(0)
    act = get_activation(name)
    h = rng.standard_normal((3, 4, 6)) + 0.05  # avoid relu kinks at 0
    g = rng.standard_normal(h.shape)
    eps = 1e-6
    numeric = np.zeros_like(h)
    for idx in np.ndindex(h.shape):
        hp, hm = h.copy(), h.copy()
        hp[idx] += eps
        hm[idx] -= eps
        numeric[idx] = np.sum(g * (act(hp) - act(hm))) / (2 * eps)
    np.testing.assert_allclose(act.vjp(h, act(h), g), numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("scale", [1e-4, 1e-2, 3.0])
def test_difference_equals_direct_difference(name, scale):
    rng = np.random.default_rng(1)
    act = get_activation(name)
    h = rng.standard_normal((2, 5, 7))
    dh = scale * rng.standard_normal(h.shape)
    np.testing.assert_allclose(act.difference(h, dh, act(h)), act(h + dh) - act(h), rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_difference_keeps_precision_in_float32(name):
    """f(h + dh) - f(h) for dh = 1e-4 in float32: the direct difference loses digits, ours does not."""
    rng = np.random.default_rng(2)
    act = get_activation(name)
    h = rng.standard_normal((4, 50)).astype(np.float32)
    dh = (1e-4 * rng.standard_normal(h.shape)).astype(np.float32)
    exact = act.difference(h.astype(np.float64), dh.astype(np.float64), act(h.astype(np.float64)))
    ours = act.difference(h, dh, act(h))
    err = np.linalg.norm(ours - exact) / np.linalg.norm(exact)
    assert err < 1e-5, err


@pytest.mark.parametrize("name", NAMES)
def test_out_argument_gives_the_same_result(name):
    """Every operation writes into ``out`` when given one, with the same values as without."""
    rng = np.random.default_rng(5)
    act = get_activation(name)
    h = rng.standard_normal((3, 8, 6))
    dh = 1e-3 * rng.standard_normal(h.shape)
    g = rng.standard_normal(h.shape)
    x = act(h)
    for result, call in [
        (x, lambda out: act(h, out=out)),
        (act.vjp(h, x, g), lambda out: act.vjp(h, x, g, out=out)),
        (act.difference(h, dh, x), lambda out: act.difference(h, dh, x, out=out)),
    ]:
        out = np.full(h.shape, np.nan)
        got = call(out)
        assert np.array_equal(got, result)
        assert got is out or name == "linear"  # the linear rate may hand back its input


def test_relu_difference_is_exact_piecewise():
    """relu(h + dh) - relu(h) computed in place: exactly dh where h + dh and h are positive, exactly 0 where both are not."""
    act = get_activation("relu")
    h = np.array([2.0, 1e-5, -1e-5, -3.0, 0.0, 0.0, 1.0])
    dh = np.array([1e-4, -3e-5, 3e-5, 1e-4, 1e-4, -1e-4, -2.0])
    expected = np.array([1e-4, -1e-5, 2e-5, 0.0, 1e-4, 0.0, -1.0])
    got = act.difference(h, dh, act(h), out=np.empty(7))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)
    assert got[0] == 1e-4 and got[3] == 0.0


def test_populations_draw_noise_with_the_ops_kernel():
    """The noise kernel and its kinds live in :mod:`bioplastic.ops` (tested there); neurons re-export them."""
    from bioplastic import ops

    assert draw_noise is ops.draw_noise and NOISE_TYPES == ops.NOISE_TYPES == ("gaussian", "rademacher")
    for kind in NOISE_TYPES:
        assert Population(3, noise=kind).noise == kind
    with pytest.raises(ValueError) as info:
        Population(3, noise="uniform")
    assert str(info.value) == "unknown noise 'uniform'; expected one of 'gaussian', 'rademacher'"


def test_softmax_rows_sum_to_one():
    h = np.random.default_rng(0).standard_normal((3, 10)) * 50
    s = get_activation("softmax")(h)
    np.testing.assert_allclose(s.sum(-1), 1.0, rtol=1e-12)


def test_population_describe_roundtrip():
    pop = Population(7, activation="tanh", noise="rademacher", name="h")
    assert pop.describe() == {"n_neurons": 7, "activation": "tanh", "noise": "rademacher", "name": "h"}
