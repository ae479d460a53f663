"""Losses and metrics: closed forms, gradients, cancellation-free differences, accuracy, look-up by name."""

import numpy as np
import pytest

import bioplastic as bp
from bioplastic.losses import LOSSES, CrossEntropy, Loss, SquaredError, accuracy, get_loss, squared_error


def _outputs(loss, rng, shape=(3, 5, 4)):
    """Outputs of ``shape`` suiting ``loss`` (probabilities for cross-entropy) and one-hot targets."""
    y = rng.standard_normal(shape)
    if isinstance(loss, CrossEntropy):
        y = np.exp(y)
        y /= y.sum(axis=-1, keepdims=True)
    target = np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])]
    return y, target


def _loop_value(loss, y, target):
    """The loss of every sample, one output at a time."""
    out = np.zeros(y.shape[:-1])
    for idx in np.ndindex(out.shape):
        if isinstance(loss, SquaredError):
            out[idx] = loss.scale * sum((y[idx][i] - target[idx][i]) ** 2 for i in range(y.shape[-1]))
        else:
            out[idx] = -sum(target[idx][i] * np.log(y[idx][i]) for i in range(y.shape[-1]))
    return out


LOSS_INSTANCES = [SquaredError(), SquaredError(scale=1.0), CrossEntropy()]


@pytest.mark.parametrize("loss", LOSS_INSTANCES, ids=repr)
def test_value_matches_per_output_loop_and_keeps_leading_axes(loss):
    y, target = _outputs(loss, np.random.default_rng(0))
    value = loss(y, target)
    assert value.shape == (3, 5)
    np.testing.assert_allclose(value, _loop_value(loss, y, target), rtol=1e-13)


def test_squared_error_scale_is_a_factor():
    y, target = _outputs(SquaredError(), np.random.default_rng(1))
    np.testing.assert_allclose(SquaredError(scale=3.0)(y, target), 6 * SquaredError()(y, target), rtol=1e-14)
    np.testing.assert_allclose(SquaredError()(y, target), 0.5 * np.sum((y - target) ** 2, axis=-1), rtol=1e-14)


@pytest.mark.parametrize("loss", LOSS_INSTANCES, ids=repr)
def test_gradient_matches_central_finite_differences(loss):
    y, target = _outputs(loss, np.random.default_rng(2), shape=(2, 3, 4))
    eps = 1e-6
    numeric = np.zeros_like(y)
    for idx in np.ndindex(y.shape):
        plus, minus = y.copy(), y.copy()
        plus[idx] += eps
        minus[idx] -= eps
        numeric[idx] = (loss(plus, target)[idx[:-1]] - loss(minus, target)[idx[:-1]]) / (2 * eps)
    grad = loss.gradient(y, target)
    assert grad.shape == y.shape
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


def test_cross_entropy_gradient_closed_form():
    y = np.array([[0.2, 0.5, 0.3]])
    target = np.array([[0.0, 1.0, 0.0]])
    np.testing.assert_allclose(CrossEntropy().gradient(y, target), [[0.0, -2.0, 0.0]], rtol=1e-15)


@pytest.mark.parametrize("size", [1e-1, 1e-3, 1e-6])
@pytest.mark.parametrize("loss", LOSS_INSTANCES, ids=repr)
def test_difference_equals_direct_difference_in_float64(loss, size):
    rng = np.random.default_rng(3)
    y, target = _outputs(loss, rng)
    change = size * rng.standard_normal(y.shape) * (y if isinstance(loss, CrossEntropy) else 1)
    direct = loss(y + change, target) - loss(y, target)
    ours = loss.difference(y, change, target)
    assert ours.shape == (3, 5)
    # the direct difference itself carries a rounding error of about eps * |L|
    atol = 64 * np.finfo(float).eps * np.max(np.abs(loss(y, target)))
    np.testing.assert_allclose(ours, direct, rtol=1e-7, atol=atol)


@pytest.mark.parametrize("loss", LOSS_INSTANCES, ids=repr)
def test_difference_keeps_precision_for_tiny_changes_in_float32(loss):
    """For ``dy ~ 1e-5 y`` in float32 the direct difference keeps only two or three digits; ours keeps float32's."""
    rng = np.random.default_rng(4)
    y, target = _outputs(loss, rng, shape=(3, 20, 10))
    change = 1e-5 * rng.standard_normal(y.shape) * (y if isinstance(loss, CrossEntropy) else 1)
    y32, change32, target32 = y.astype(np.float32), change.astype(np.float32), target.astype(np.float32)
    # the exact difference of the float32 inputs, computed in float64
    exact = loss.difference(y32.astype(np.float64), change32.astype(np.float64), target32.astype(np.float64))
    ours = loss.difference(y32, change32, target32)
    direct = loss(y32 + change32, target32) - loss(y32, target32)
    assert ours.dtype == np.float32
    scale = np.max(np.abs(exact))
    assert np.max(np.abs(ours - exact)) / scale < 16 * np.finfo(np.float32).eps
    assert np.max(np.abs(direct - exact)) / scale > 1e-3  # what a direct difference would lose


def test_base_loss_difference_is_the_direct_difference():
    class Absolute(Loss):
        name = "absolute"

        def __call__(self, output, target):
            return np.abs(output - target).sum(axis=-1)

    y, target, change = np.array([[1.0, -2.0]]), np.array([[0.5, 0.0]]), np.array([[0.25, 3.0]])
    np.testing.assert_array_equal(Absolute().difference(y, change, target), [(0.75 + 1.0) - (0.5 + 2.0)])
    with pytest.raises(NotImplementedError):
        Loss()(y, target)
    with pytest.raises(NotImplementedError):
        Loss().gradient(y, target)


def test_cross_entropy_ignores_outputs_of_zero_target_and_clamps_zero_probabilities():
    y = np.array([[0.0, 1.0]])
    assert CrossEntropy()(y, np.array([[0.0, 1.0]]))[0] == 0.0
    hit_zero = CrossEntropy()(y, np.array([[1.0, 0.0]]))[0]
    assert hit_zero == pytest.approx(-np.log(np.finfo(float).tiny))
    assert np.isfinite(CrossEntropy().gradient(y, np.array([[1.0, 0.0]]))).all()


def test_describe_and_repr():
    assert SquaredError().describe() == {"name": "squared_error", "scale": 0.5}
    assert SquaredError(scale=1).describe() == {"name": "squared_error", "scale": 1.0}
    assert repr(SquaredError(scale=2.0)) == "SquaredError(scale=2.0)"
    assert CrossEntropy().describe() == {"name": "cross_entropy"}
    assert repr(CrossEntropy()) == "CrossEntropy()"
    assert set(LOSSES) == {"squared_error", "cross_entropy"}


@pytest.mark.parametrize("scale,error,message", [
    (0.0, ValueError, "SquaredError scale must be > 0, got 0.0"),
    (-1.0, ValueError, "SquaredError scale must be > 0, got -1.0"),
    ("big", TypeError, "SquaredError scale should be a real number, got 'big' of type str"),
])
def test_squared_error_rejects_bad_scale(scale, error, message):
    with pytest.raises(error) as info:
        SquaredError(scale=scale)
    assert str(info.value) == message


def test_get_loss_by_name_or_instance():
    assert type(get_loss("squared_error")) is SquaredError
    assert type(get_loss("Cross_Entropy")) is CrossEntropy
    loss = SquaredError(scale=2.0)
    assert get_loss(loss) is loss


def test_get_loss_errors_name_the_bad_value():
    with pytest.raises(ValueError) as info:
        get_loss("hinge")
    assert str(info.value) == "unknown loss 'hinge'; expected one of 'squared_error', 'cross_entropy'"
    with pytest.raises(TypeError) as info:
        get_loss(3)
    assert str(info.value) == "loss should be a name or a Loss, got 3"


def test_squared_error_metric_is_the_mean_over_samples_of_the_sum_over_outputs():
    rng = np.random.default_rng(5)
    y, target = rng.standard_normal((3, 6, 2)), rng.standard_normal((3, 6, 2))
    expected = [np.mean([np.sum((y[e, b] - target[e, b]) ** 2) for b in range(6)]) for e in range(3)]
    np.testing.assert_allclose(squared_error(y, target), expected, rtol=1e-14)
    assert squared_error(y[0], target[0]) == pytest.approx(expected[0], rel=1e-14)
    assert bp.squared_error is squared_error


def test_accuracy_with_integer_and_one_hot_labels():
    output = np.array([
        [[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5], [0.0, 0.4, 0.6]],
        [[0.9, 0.1, 0.0], [0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.3, 0.4, 0.3]],
    ])
    labels = np.array([1, 0, 2, 1])
    expected = np.array([3 / 4, 2 / 4])
    np.testing.assert_array_equal(accuracy(output, labels), expected)
    np.testing.assert_array_equal(accuracy(output, np.eye(3)[labels]), expected)
    np.testing.assert_array_equal(accuracy(output, np.eye(3, dtype=np.int64)[labels]), expected)
    assert accuracy(output[0], labels) == 0.75
    assert accuracy(output[0], list(labels)) == 0.75


def test_accuracy_takes_float_class_indices_and_refuses_fractions():
    assert bp.accuracy(np.eye(3)[None], np.array([0.0, 1.0, 2.0])) == [1.0]
    assert bp.accuracy(np.eye(3)[None], np.array([0.0, 2.0, 1.0]))[0] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="should be integer classes"):
        bp.accuracy(np.eye(3)[None], np.array([0.5, 1.0, 2.0]))
