"""Activation functions, their cancellation-free differences and the intrinsic noise."""

import numpy as np
import pytest

from bioplastic.neurons import ACTIVATIONS, NOISE_TYPES, LeakyReLU, Population, draw_noise, get_activation

NAMES = sorted(ACTIVATIONS)


def _numeric_vjp(act, h, g, eps=1e-6):
    """``g . d act / dh`` by central finite differences, element by element."""
    numeric = np.zeros_like(h)
    for idx in np.ndindex(h.shape):
        hp, hm = h.copy(), h.copy()
        hp[idx] += eps
        hm[idx] -= eps
        numeric[idx] = np.sum(g * (act(hp) - act(hm))) / (2 * eps)
    return numeric


@pytest.mark.parametrize("name", NAMES)
def test_vjp_matches_finite_differences(name):
    rng = np.random.default_rng(0)
    act = get_activation(name)
    h = rng.standard_normal((3, 4, 6)) + 0.05  # avoid relu kinks at 0
    g = rng.standard_normal(h.shape)
    numeric = _numeric_vjp(act, h, g)
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


# ----------------------------------------------------------------------------- leaky ReLU
def test_leaky_relu_values_closed_form():
    """f(h) = h for h > 0 and slope * h otherwise; the name gives slope 0.2 and slope 0 is the ReLU."""
    h = np.array([[-3.0, -0.5, 0.0, 0.25, 4.0]])
    np.testing.assert_array_equal(get_activation("leaky_relu")(h), [[-0.6000000000000001, -0.1, 0.0, 0.25, 4.0]])
    np.testing.assert_allclose(LeakyReLU(slope=0.1)(h), [[-0.3, -0.05, 0.0, 0.25, 4.0]], rtol=1e-15)
    np.testing.assert_array_equal(LeakyReLU(slope=0.0)(h), get_activation("relu")(h))
    assert get_activation("Leaky_ReLU").slope == 0.2 and LeakyReLU.DEFAULT_SLOPE == 0.2
    assert LeakyReLU()(h.astype(np.float32)).dtype == np.float32


def test_leaky_relu_rate_into_its_own_input():
    """``out`` may be the input itself (the rate is then computed from an unmodified copy)."""
    h = np.array([-2.0, 3.0, -0.5])
    got = LeakyReLU(slope=0.1)(h, out=h)
    assert got is h
    np.testing.assert_allclose(h, [-0.2, 3.0, -0.05], rtol=1e-15)


@pytest.mark.parametrize("slope", [0.0, 0.1, 0.7])
def test_leaky_relu_vjp_matches_finite_differences(slope):
    rng = np.random.default_rng(7)
    act = LeakyReLU(slope=slope)
    h = rng.standard_normal((3, 4, 6))
    h[np.abs(h) < 1e-3] = 0.5  # away from the kink at 0
    g = rng.standard_normal(h.shape)
    numeric = _numeric_vjp(act, h, g)
    np.testing.assert_allclose(act.vjp(h, act(h), g), numeric, rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(act.vjp(h, act(h), g), np.where(h > 0, g, slope * g))


@pytest.mark.parametrize("slope", [0.0, 0.1, 0.2, 0.9])
@pytest.mark.parametrize("scale", [1e-4, 1e-2, 3.0])
def test_leaky_relu_difference_equals_direct_difference_in_float64(slope, scale):
    rng = np.random.default_rng(8)
    act = LeakyReLU(slope=slope)
    h = rng.standard_normal((2, 5, 7))
    dh = scale * rng.standard_normal(h.shape)
    got = act.difference(h, dh, act(h), out=np.full(h.shape, np.nan))
    np.testing.assert_allclose(got, act(h + dh) - act(h), rtol=1e-7, atol=1e-12)


def test_leaky_relu_difference_with_slope_zero_is_the_relu_difference():
    rng = np.random.default_rng(9)
    h = rng.standard_normal((4, 30))
    dh = 1e-2 * rng.standard_normal(h.shape)
    relu = get_activation("relu")
    np.testing.assert_array_equal(LeakyReLU(slope=0.0).difference(h, dh, h.clip(0)), relu.difference(h, dh, relu(h)))


@pytest.mark.parametrize("slope", [0.2, 0.05])
def test_leaky_relu_difference_has_no_cancellation_in_float32(slope):
    """For dh = 1e-6 and |h| of order 1 the change is dh (h > 0) or slope * dh (h < 0), to a few float32 roundings.

    The direct difference f(h + dh) - f(h) in float32 keeps only about
    eps32 * |h| / |dh| ~ 10% of its digits; the reference is the closed form
    evaluated in float64 on the same float32 inputs.
    """
    rng = np.random.default_rng(10)
    act = LeakyReLU(slope=slope)
    h = (rng.choice([-1.0, 1.0], size=(4, 250)) * rng.uniform(0.5, 2.0, size=(4, 250))).astype(np.float32)
    dh = (1e-6 * rng.standard_normal(h.shape)).astype(np.float32)
    exact = np.where(h > 0, 1.0, slope) * dh.astype(np.float64)
    ours = act.difference(h, dh, act(h))
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, exact, rtol=4 * np.finfo(np.float32).eps, atol=0)
    naive = act(h + dh) - act(h)
    assert np.max(np.abs(naive - exact) / np.abs(exact)) > 1e-2  # what the cancellation-free form avoids


def test_leaky_relu_difference_across_the_kink():
    """Where h and h + dh straddle 0, only the part beyond 0 has slope 1."""
    act = LeakyReLU(slope=0.25)
    h = np.array([1e-5, -1e-5, 0.0, 0.0, 2.0, -3.0])
    dh = np.array([-3e-5, 3e-5, 1e-4, -1e-4, -4.0, 5.0])
    expected = np.array([-1e-5 + 0.25 * -2e-5, 0.25 * 1e-5 + 2e-5, 1e-4, 0.25 * -1e-4, -2.0 + 0.25 * -2.0, 0.25 * 3.0 + 2.0])
    np.testing.assert_allclose(act.difference(h, dh, act(h)), expected, rtol=1e-12, atol=0)


@pytest.mark.parametrize("slope,error,message", [
    (-0.1, ValueError, "LeakyReLU slope must lie in [0, 1), got -0.1"),
    (1, ValueError, "LeakyReLU slope must lie in [0, 1), got 1.0"),
    (2.5, ValueError, "LeakyReLU slope must lie in [0, 1), got 2.5"),
    (float("nan"), ValueError, "LeakyReLU slope should be finite, got nan"),
    ("0.2", TypeError, "LeakyReLU slope should be a real number, got '0.2' of type str"),
    (True, TypeError, "LeakyReLU slope should be a real number, got True of type bool"),
])
def test_leaky_relu_slope_errors_name_the_bad_value(slope, error, message):
    with pytest.raises(error) as info:
        LeakyReLU(slope=slope)
    assert str(info.value) == message


def test_leaky_relu_slope_is_keyword_only():
    with pytest.raises(TypeError):
        LeakyReLU(0.1)


def test_leaky_relu_population_describe_round_trip():
    """The default slope is described by the name alone, another slope by ``{"name", "slope"}``; both rebuild."""
    default = Population(4, activation="leaky_relu")
    assert default.describe()["activation"] == "leaky_relu" == LeakyReLU(slope=0.2).describe()
    pop = Population(4, activation=LeakyReLU(slope=0.1), name="h")
    description = pop.describe()
    assert description == {"n_neurons": 4, "activation": {"name": "leaky_relu", "slope": 0.1}, "noise": "gaussian", "name": "h"}
    rebuilt = Population(description["n_neurons"], activation=description["activation"], noise=description["noise"], name="h")
    assert isinstance(rebuilt.activation_, LeakyReLU) and rebuilt.activation_.slope == 0.1
    assert rebuilt.describe() == description
    assert repr(pop) == "Population(4, activation={'name': 'leaky_relu', 'slope': 0.1}, noise='gaussian')"
    assert repr(default) == "Population(4, activation='leaky_relu', noise='gaussian')"
    assert repr(pop.activation_) == "LeakyReLU(slope=0.1)"


def test_leaky_relu_network_description_round_trip_through_json():
    import json

    from bioplastic import Network

    net = Network([Population(3, noise=None), Population(5, activation=LeakyReLU(slope=0.1)), Population(4, activation="leaky_relu"),
                   Population(2)])
    description = json.loads(json.dumps(net.describe()))
    assert [p["activation"] for p in description["populations"]] == ["linear", {"name": "leaky_relu", "slope": 0.1}, "leaky_relu", "linear"]
    rebuilt = Network.from_description(description)
    assert [getattr(a, "slope", None) for a in rebuilt.activations] == [0.1, 0.2, None]
    assert rebuilt.describe() == description


@pytest.mark.parametrize("description,error,message", [
    ({"slope": 0.1}, TypeError, "an activation description should have a string 'name', got {'slope': 0.1}"),
    ({"name": "relu", "slope": 0.1}, TypeError, "activation 'relu' got unknown parameters 'slope'; expected none"),
    ({"name": "leaky_relu", "alpha": 0.1}, TypeError, "activation 'leaky_relu' got unknown parameters 'alpha'; expected 'slope'"),
    ({"name": "elu"}, ValueError, "unknown activation 'elu'; expected one of 'linear', 'relu', 'leaky_relu', 'tanh', 'sigmoid', 'softmax'"),
    ({"name": "leaky_relu", "slope": 1.5}, ValueError, "LeakyReLU slope must lie in [0, 1), got 1.5"),
    (3, TypeError, "activation should be a name, a description dict or an Activation, got 3"),
])
def test_activation_description_errors(description, error, message):
    with pytest.raises(error) as info:
        get_activation(description)
    assert str(info.value) == message


def test_descriptions_of_the_other_activations_are_their_names():
    for name in NAMES:
        assert get_activation(name).describe() == name
        assert get_activation({"name": name}).describe() == name


def test_leaky_relu_is_exported():
    import bioplastic as bp
    import bioplastic.neurons as neurons

    assert bp.LeakyReLU is LeakyReLU and "LeakyReLU" in bp.__all__ and "LeakyReLU" in neurons.__all__
    assert ACTIVATIONS["leaky_relu"] is LeakyReLU
