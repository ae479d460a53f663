"""Measured training and instability times (bioplastic.analysis.training_times) on Histories with known answers."""

import numpy as np
import pytest

from bioplastic import analysis
from bioplastic.analysis import measured_instability_times, measured_minimum_training_time
from bioplastic.training import History

NAN = np.nan


def _history(errors, lrs, seeds, diverged=None, name="test_error"):
    errors = np.asarray(errors, dtype=float)
    n, t = errors.shape
    records = {name: errors, "weight_norms": np.ones((n, t, 2))}
    diverged = np.full(n, -1) if diverged is None else np.asarray(diverged)
    return History(np.arange(t), records, lrs, seeds, diverged, {"rule": {"name": "test"}})


@pytest.fixture
def synthetic():
    #            epoch:  0   1   2   3   4   5   6   7   8
    errors = [[9, 8, 7, 6, 5, 4, 3, 2, 1],  # lr 0.1 seed 0: <= 3 at epoch 6
              [9, 8, 8, 8, 8, 8, 8, 8, 3],  # lr 0.1 seed 1: epoch 8
              [9, 6, 4, 3, 2, 2, 2, 2, 2],  # lr 0.2 seed 0: epoch 3
              [9, 7, 5, 4, 4, 3, 3, 3, 3],  # lr 0.2 seed 1: epoch 5
              [9, 3, 1, NAN, NAN, NAN, NAN, NAN, NAN],  # lr 0.4 seed 0: epoch 1, diverged at 3 afterwards
              [9, 4, 9e9, NAN, NAN, NAN, NAN, NAN, NAN]]  # lr 0.4 seed 1: diverged at 2 before reaching
    return _history(errors, [0.1, 0.1, 0.2, 0.2, 0.4, 0.4], [0, 1] * 3, diverged=[-1, -1, -1, -1, 3, 2])


@pytest.fixture
def unstable():
    return _history([[10, 6, 3, 2, 4, 9, 12, 15],
                     [10, 5, 4, 3, 3, 3, 3, 3],
                     [10, 5, 3, NAN, NAN, NAN, NAN, NAN]], [1, 1, 1], [0, 1, 2], diverged=[-1, -1, 3])


def test_measured_minimum_training_time_closed_form(synthetic):
    result = measured_minimum_training_time(synthetic, 3.0)
    np.testing.assert_array_equal(result["learning_rates"], [0.1, 0.2, 0.4])
    np.testing.assert_array_equal(result["times"], [7.0, 4.0, np.inf])
    np.testing.assert_array_equal(result["member_times"], [6, 8, 3, 5, 1, np.inf])
    assert result["time"] == 4.0 and result["learning_rate"] == 0.2 and not result["at_edge"]
    assert result["above"] is False and result["statistic"] == "mean"
    assert measured_minimum_training_time(synthetic, 3.0, statistic="max")["times"].tolist() == [8.0, 5.0, np.inf]
    assert measured_minimum_training_time(synthetic, 3.0, statistic="median")["time"] == 4.0
    # seed-averaged curves: lr 0.1 first <= 3 at epoch 8 ((1 + 3) / 2), lr 0.2 at epoch 4 ((2 + 4) / 2),
    # lr 0.4 never (a diverged member leaves the average undefined)
    curve = measured_minimum_training_time(synthetic, 3.0, statistic="mean_curve")
    np.testing.assert_array_equal(curve["times"], [8.0, 4.0, np.inf])
    assert curve["time"] == 4.0
    # nothing reaches an impossible target
    none = measured_minimum_training_time(synthetic, 0.5)
    assert none["time"] == np.inf and np.isnan(none["learning_rate"]) and not none["at_edge"]
    # the optimum at the grid's edge is flagged
    edge = measured_minimum_training_time(_history([[5, 1], [5, 4]], [0.1, 0.2], [0, 0]), 2.0)
    assert edge["learning_rate"] == 0.1 and edge["at_edge"]


def test_measured_minimum_training_time_accuracy_is_reached_from_below():
    hist = _history([[0.1, 0.5, 0.8, 0.95], [0.1, 0.92, 0.9, 0.99]], [0.1, 0.2], [0, 0], name="test_accuracy")
    result = measured_minimum_training_time(hist, 0.9, name="test_accuracy")
    assert result["above"] is True
    np.testing.assert_array_equal(result["times"], [3.0, 1.0])
    assert measured_minimum_training_time(hist, 0.9, name="test_accuracy", above=False)["time"] == 0.0
    with pytest.raises(ValueError, match="no record 'test_error'"):
        measured_minimum_training_time(hist, 0.9)
    with pytest.raises(ValueError, match="unknown statistic 'mode'"):
        measured_minimum_training_time(hist, 0.9, name="test_accuracy", statistic="mode")
    with pytest.raises(TypeError, match="name should be a record name such as 'test_error', got 3"):
        measured_minimum_training_time(hist, 0.9, name=3)


def test_measured_instability_times_closed_form(unstable):
    times = measured_instability_times(unstable)
    np.testing.assert_array_equal(times["initial"], [10, 10, 10])
    np.testing.assert_array_equal(times["min_value"], [2, 3, 3])
    np.testing.assert_array_equal(times["min_epoch"], [3, 3, 2])
    np.testing.assert_array_equal(times["return_epoch"], [6, np.inf, 3])
    np.testing.assert_array_equal(measured_instability_times(unstable, factor=1.3)["return_epoch"], [7, np.inf, 3])
    np.testing.assert_array_equal(measured_instability_times(unstable, factor=2.0)["return_epoch"], [np.inf, np.inf, 3])
    with pytest.raises(ValueError, match="factor must be > 0"):
        measured_instability_times(unstable, factor=0.0)
    with pytest.raises(ValueError, match=r"history has no record 'train_error'; it records \['test_error', 'weight_norms'\]"):
        measured_instability_times(unstable, name="train_error")


@pytest.mark.parametrize(("old", "new", "args", "kwargs"), [
    ("minimum_training_time", "measured_minimum_training_time", (3.0,), {"statistic": "max"}),
    ("instability_times", "measured_instability_times", (), {"factor": 1.3}),
])
def test_former_names_warn_and_return_the_measured_result(synthetic, unstable, old, new, args, kwargs):
    history = synthetic if old == "minimum_training_time" else unstable
    with pytest.warns(DeprecationWarning, match=rf"^bioplastic\.analysis\.{old} is deprecated; use bioplastic\.analysis\.{new} "):
        result = getattr(analysis, old)(history, *args, **kwargs)
    expected = getattr(analysis, new)(history, *args, **kwargs)
    assert result.keys() == expected.keys()
    for key, value in expected.items():
        np.testing.assert_array_equal(result[key], value)
    assert getattr(analysis, old).__name__ == old and new in getattr(analysis, old).__doc__
