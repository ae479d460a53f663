"""Projections: shapes, the Xavier-Glorot and He initialisations, plasticity flag, descriptions and errors."""

import numpy as np
import pytest

import bioplastic as bp
from bioplastic.synapses import INITIALISATIONS, Projection, he_std, xavier_std


def test_shape_and_initial_weights_shape_and_dtype():
    proj = Projection(5, 3)
    assert proj.shape == (3, 5)
    w = proj.initial_weights(np.random.default_rng(0))
    assert w.shape == (3, 5) and w.dtype == np.float64
    w32 = proj.initial_weights(np.random.default_rng(0), np.float32)
    assert w32.dtype == np.float32
    np.testing.assert_array_equal(w32, w.astype(np.float32))
    zeros = Projection(5, 3, init="zeros").initial_weights(np.random.default_rng(0), np.float32)
    assert zeros.dtype == np.float32 and zeros.shape == (3, 5) and not np.any(zeros)


def test_xavier_std_closed_form():
    assert xavier_std(3, 5) == np.sqrt(2 / 8)
    assert xavier_std(784, 300) == pytest.approx(0.04295, rel=1e-4)


@pytest.mark.parametrize("n_pre,n_post,init_scale", [(300, 200, 1.0), (80, 500, 0.3), (400, 100, 2.0)])
def test_xavier_normal_mean_and_variance(n_pre, n_post, init_scale):
    """Weights ~ N(0, init_scale^2 * 2 / (n_pre + n_post)).

    For N Gaussian samples the sample mean has standard error s / sqrt(N) and
    the sample variance a relative standard error of sqrt(2 / (N - 1)); both
    are checked to within 5 standard errors.
    """
    w = Projection(n_pre, n_post, init_scale=init_scale).initial_weights(np.random.default_rng(n_pre))
    n = w.size
    variance = init_scale**2 * 2 / (n_pre + n_post)
    assert abs(w.mean()) < 5 * np.sqrt(variance / n)
    assert abs(w.var() / variance - 1) < 5 * np.sqrt(2 / (n - 1))
    # neither the rows nor the columns are normalised: every row has its own spread
    assert np.ptp(w.std(axis=1)) > 0


def test_he_std_closed_form():
    assert he_std(8) == 0.5
    assert he_std(784) == np.sqrt(2 / 784)
    assert he_std(500) == pytest.approx(0.063246, rel=1e-5)


@pytest.mark.parametrize("n_pre,n_post,init_scale", [(500, 400, 1.0), (100, 2000, 0.3), (2000, 100, 2.5)])
def test_he_normal_std(n_pre, n_post, init_scale):
    """Weights ~ N(0, init_scale^2 * 2 / n_pre), whatever n_post.

    The sample standard deviation of N Gaussian samples has a relative
    standard error of 1 / sqrt(2 (N - 1)) (0.16% for these 200,000 weights);
    it is checked to within 5 standard errors, a band that the Xavier-Glorot
    standard deviation of the same shape misses by at least as much again.
    The sample mean, with standard error s / sqrt(N), is checked the same way.
    """
    w = Projection(n_pre, n_post, init="he_normal", init_scale=init_scale).initial_weights(np.random.default_rng(n_post))
    n = w.size
    std = init_scale * np.sqrt(2 / n_pre)
    tolerance = 5 / np.sqrt(2 * (n - 1))
    assert abs(w.std() / std - 1) < tolerance
    assert abs(init_scale * xavier_std(n_pre, n_post) / std - 1) > 2 * tolerance
    assert abs(w.mean()) < 5 * std / np.sqrt(n)


def test_he_normal_scales_the_same_draws():
    """He weights are the Xavier-Glorot draws rescaled by sqrt(2 / n_pre) / sqrt(2 / (n_pre + n_post)), and init_scale multiplies them."""
    xavier = Projection(6, 4).initial_weights(np.random.default_rng(3))
    he = Projection(6, 4, init="he_normal").initial_weights(np.random.default_rng(3))
    np.testing.assert_allclose(he, xavier * he_std(6) / xavier_std(6, 4), rtol=1e-15)
    scaled = Projection(6, 4, init="he_normal", init_scale=0.5).initial_weights(np.random.default_rng(3))
    np.testing.assert_allclose(scaled, 0.5 * he, rtol=1e-15)
    he32 = Projection(6, 4, init="he_normal").initial_weights(np.random.default_rng(3), np.float32)
    assert he32.dtype == np.float32
    np.testing.assert_array_equal(he32, he.astype(np.float32))


def test_he_normal_describe_round_trip():
    proj = Projection(5, 2, init="He_Normal", init_scale=0.5)
    assert proj.init == "he_normal"
    assert Projection(**proj.describe()).describe() == proj.describe()
    assert repr(proj) == "Projection(5 -> 2, init='he_normal', init_scale=0.5, bias=True)"


def test_initial_weights_are_reproducible_from_the_generator():
    proj = Projection(6, 4)
    a = proj.initial_weights(np.random.default_rng(3))
    np.testing.assert_array_equal(a, proj.initial_weights(np.random.default_rng(3)))
    assert not np.array_equal(a, proj.initial_weights(np.random.default_rng(4)))
    # the scale multiplies the same draws
    np.testing.assert_allclose(Projection(6, 4, init_scale=0.5).initial_weights(np.random.default_rng(3)), 0.5 * a, rtol=1e-15)


def test_plastic_flag_stops_learning_on_that_projection():
    net = bp.Network([3, 5, 2], projections=[Projection(3, 5, plastic=False), Projection(5, 2)])
    state = net.init_state([0, 1])
    rng = np.random.default_rng(0)
    x, target = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    directions = bp.Backprop().directions(net, state, x, target, bp.SquaredError())
    assert directions.weights[0] is None and directions.biases[0] is None
    assert directions.weights[1].shape == (2, 2, 5) and np.any(directions.weights[1])
    assert Projection(3, 5).plastic is True


def test_describe_round_trip_and_repr():
    proj = Projection(4, 3, init="zeros", init_scale=2, bias=False, plastic=False)
    description = proj.describe()
    assert description == {"n_pre": 4, "n_post": 3, "init": "zeros", "init_scale": 2.0, "bias": False, "plastic": False}
    assert Projection(**description).describe() == description
    assert repr(Projection(4, 3)) == "Projection(4 -> 3, init='xavier_normal', init_scale=1.0, bias=True)"
    assert Projection(4, 3, init="Zeros").init == "zeros"
    assert INITIALISATIONS == ("xavier_normal", "he_normal", "zeros")


@pytest.mark.parametrize("args,kwargs,error,message", [
    ((0, 3), {}, ValueError, "Projection n_pre should be at least 1, was 0"),
    ((3, 2.5), {}, TypeError, "Projection n_post should be an integer >= 1, got 2.5 of type float"),
    ((True, 3), {}, TypeError, "Projection n_pre should be an integer >= 1, got True of type bool"),
    ((3, 2), {"init": "uniform"}, ValueError, "unknown init 'uniform'; expected one of 'xavier_normal', 'he_normal', 'zeros'"),
    ((3, 2), {"init_scale": 0}, ValueError, "init_scale must be > 0, got 0.0"),
    ((3, 2), {"init_scale": float("inf")}, ValueError, "init_scale should be finite, got inf"),
    ((3, 2), {"bias": 1}, TypeError, "bias should be True or False, got 1"),
    ((3, 2), {"plastic": "no"}, TypeError, "plastic should be True or False, got 'no'"),
])
def test_errors_name_the_bad_value(args, kwargs, error, message):
    with pytest.raises(error) as info:
        Projection(*args, **kwargs)
    assert str(info.value) == message


def test_options_are_keyword_only():
    with pytest.raises(TypeError):
        Projection(3, 2, "zeros")
