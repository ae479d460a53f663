"""The broadcast neuromodulator: its closed form, the running-average baseline, introspection and validation."""

import numpy as np
import pytest

import bioplastic as bp
from bioplastic.neuromodulation import BASELINES, Neuromodulator, check_neuromodulator


def test_signal_is_minus_the_loss_difference_over_sigma():
    difference = np.array([[0.3, -1e-6, 0.0], [2.0, -4.0, 1e-300]])
    signal = Neuromodulator().signal(difference, 1e-3)
    assert signal.shape == (2, 3)
    expected = [[-300.0, 1e-3, 0.0], [-2000.0, 4000.0, -1e-297]]
    np.testing.assert_allclose(signal, expected, rtol=1e-15)
    # a loss that fell (negative difference) gives a positive signal
    assert Neuromodulator().signal(-0.5, 0.25) == 2.0
    assert Neuromodulator().signal([1.0, -1.0], np.float32(0.5)).tolist() == [-2.0, 2.0]


@pytest.mark.parametrize("sigma,error,message", [
    (0.0, ValueError, "sigma must be > 0, got 0.0"),
    (-1e-3, ValueError, "sigma must be > 0, got -0.001"),
    (float("nan"), ValueError, "sigma should be finite, got nan"),
    ("1e-3", TypeError, "sigma should be a real number, got '1e-3' of type str"),
])
def test_signal_rejects_bad_sigma(sigma, error, message):
    with pytest.raises(error) as info:
        Neuromodulator().signal(np.ones(2), sigma)
    assert str(info.value) == message


def test_update_baseline_is_an_exponential_average():
    modulator = Neuromodulator(baseline="running_average", decay=0.75)
    assert modulator.update_baseline(2.0, 6.0) == 0.75 * 2.0 + 0.25 * 6.0
    # after n trials of a constant loss L from b0: L + decay^n (b0 - L)
    baseline = 10.0
    for _ in range(20):
        baseline = modulator.update_baseline(baseline, 2.0)
    assert baseline == pytest.approx(2.0 + 0.75**20 * 8.0, rel=1e-13)
    # element-wise over members and samples
    baselines = modulator.update_baseline(np.array([0.0, 1.0]), np.array([4.0, 1.0]))
    np.testing.assert_allclose(baselines, [1.0, 1.0], rtol=1e-15)


def test_describe_repr_and_parameter_names():
    assert Neuromodulator.param_names() == ("baseline", "decay")
    assert Neuromodulator().describe() == {"baseline": "clean", "decay": 0.9}
    modulator = Neuromodulator(baseline="Running_Average", decay=0.5)
    assert modulator.describe() == {"baseline": "running_average", "decay": 0.5}
    assert repr(modulator) == "Neuromodulator(baseline='running_average', decay=0.5)"
    assert Neuromodulator(**modulator.describe()).describe() == modulator.describe()
    assert BASELINES == ("clean", "running_average")


def test_rules_describe_their_neuromodulator():
    rule = bp.NodePerturbation(sigma=1e-3, neuromodulator={"baseline": "running_average", "decay": 0.8})
    assert rule.describe()["neuromodulator"] == {"baseline": "running_average", "decay": 0.8}
    assert "neuromodulator=Neuromodulator(baseline='running_average', decay=0.8)" in repr(rule)


@pytest.mark.parametrize("kwargs,error,message", [
    ({"baseline": "mean"}, ValueError, "unknown baseline 'mean'; expected one of 'clean', 'running_average'"),
    ({"decay": 1.0}, ValueError, "decay must lie in (0, 1), got 1.0"),
    ({"decay": 0}, ValueError, "decay must lie in (0, 1), got 0.0"),
    ({"decay": None}, TypeError, "decay should be a real number, got None of type NoneType"),
])
def test_constructor_errors_name_the_bad_value(kwargs, error, message):
    with pytest.raises(error) as info:
        Neuromodulator(**kwargs)
    assert str(info.value) == message


def test_constructor_is_keyword_only():
    with pytest.raises(TypeError):
        Neuromodulator("clean")


def test_check_neuromodulator_accepts_none_dict_and_instance():
    default = check_neuromodulator(None)
    assert type(default) is Neuromodulator and default.describe() == {"baseline": "clean", "decay": 0.9}
    built = check_neuromodulator({"baseline": "running_average"})
    assert built.describe() == {"baseline": "running_average", "decay": 0.9}
    assert check_neuromodulator({}).describe() == default.describe()
    instance = Neuromodulator(decay=0.5)
    assert check_neuromodulator(instance) is instance


@pytest.mark.parametrize("value,error,message", [
    ({"baseline": "clean", "rate": 1, "alpha": 2}, ValueError,
     "unknown neuromodulator key(s) ['alpha', 'rate']; expected some of ['baseline', 'decay']"),
    ({"baseline": "oracle"}, ValueError, "unknown baseline 'oracle'; expected one of 'clean', 'running_average'"),
    ({"decay": 2.0}, ValueError, "decay must lie in (0, 1), got 2.0"),
    ("clean", TypeError, "neuromodulator should be a Neuromodulator or a dict of its parameters, got 'clean'"),
    (0.9, TypeError, "neuromodulator should be a Neuromodulator or a dict of its parameters, got 0.9"),
])
def test_check_neuromodulator_rejects_bad_values(value, error, message):
    with pytest.raises(error) as info:
        check_neuromodulator(value)
    assert str(info.value) == message
    # rules validate their neuromodulator the same way, where the user passes it
    with pytest.raises(error) as info:
        bp.NodePerturbation(neuromodulator=value)
    assert str(info.value) == message
