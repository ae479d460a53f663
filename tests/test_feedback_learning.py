"""Learning outcomes of backprop and the feedback-alignment family on MNIST, with stated tolerances.

Settings (those of :mod:`bioplastic.figures.kunin2020`): ``784-256-10`` ReLU
network with a softmax readout, cross-entropy, SGD with momentum 0.9,
minibatches of 128, float32, the first 10,000 training and 2,000 test images
of MNIST, 5 epochs, seed 0, learning rate 0.1 (IA: 0.03, it diverges at 0.1).
Coefficients: KP ``decay=5e-3``; SA ``alpha=0.1, beta=0.2``; AA ``alpha=0.01,
beta=0.02``; WM and IA their defaults.

Measured test accuracy after 5 epochs: BP 0.936, FA 0.889, DFA 0.889 (with
one hidden layer DFA is FA with the same draws), uSF 0.928, brSF 0.927,
frSF 0.927, KP 0.888, SA 0.884, AA 0.935, WM 0.907, IA 0.895.

Measured W-B^T angle (degrees) after epochs 1..5: KP 31.4, 13.3, 5.5, 2.3,
1.0; SA 5.6, 4.2, 3.8, 3.5, 3.3; FA 65.3, 62.4, 63.2, 63.4, 63.7. With KP's
default ``decay=1e-3`` the angle only reaches ~18 degrees in these 5 epochs
(``decay=3e-3``: 5.1 at learning rate 0.1), and SA's defaults leave it far
above 5 degrees, hence the larger coefficients.
"""

import numpy as np
import pytest
from conftest import data_dir_or_skip

from bioplastic.figures.kunin2020.shared import make_rule, network_for, train_tracked

#: learning rate of each rule
LEARNING_RATES = {"ia": 0.03}
#: test accuracy each rule must exceed (measured values in the module docstring)
THRESHOLDS = {"bp": 0.92, "fa": 0.86, "dfa": 0.86, "usf": 0.90, "brsf": 0.90, "frsf": 0.90, "kp": 0.86, "sa": 0.86,
              "aa": 0.90, "wm": 0.87, "ia": 0.86}
COEFFICIENTS = {"kp": {"decay": 5e-3}, "sa": {"alpha": 0.1, "beta": 0.2}, "aa": {"alpha": 0.01, "beta": 0.02}}


@pytest.fixture(scope="module")
def task():
    from bioplastic.tasks import MnistTask

    return MnistTask(data_dir_or_skip(), n_train=10000, n_test=2000, eval_train_size=1000)


_RUNS = {}


def _run(task, name):
    if name not in _RUNS:
        rule = make_rule(name, **COEFFICIENTS.get(name, {}))
        _RUNS[name] = train_tracked(network_for(task, 1), name, rule, task, n_epochs=5,
                                    learning_rate=LEARNING_RATES.get(name, 0.1), seeds=0)
    return _RUNS[name]


@pytest.mark.parametrize("name", list(THRESHOLDS))
def test_rule_learns_mnist(task, name):
    history, angles = _run(task, name)
    accuracy = history["test_accuracy"][0]
    assert history.diverged_epoch[0] == -1
    assert accuracy[0] < 0.3  # chance at the start
    assert accuracy[-1] > THRESHOLDS[name], f"{name}: test accuracy {accuracy[-1]:.4f} <= {THRESHOLDS[name]}"
    assert angles.shape == (5, 1, 1)


@pytest.mark.parametrize("name", ["kp", "sa"])
def test_kolen_pollack_and_symmetric_alignment_make_the_pathways_symmetric(task, name):
    _, angles = _run(task, name)
    assert angles[-1, 0, 0] < 5.0, f"{name}: W-B^T angle {angles[-1, 0, 0]:.2f} degrees after 5 epochs"
    assert angles[-1, 0, 0] < angles[0, 0, 0]


def test_feedback_alignment_aligns_partially_while_it_learns(task):
    history, angles = _run(task, "fa")
    assert np.all(angles[:, 0, 0] < 80.0)  # started at ~90 (independent random matrices)
    assert np.all(angles[:, 0, 0] > 30.0)  # far from symmetric: the feedback stays fixed
    assert np.all(np.diff(history["test_accuracy"][0]) > -0.02)


def test_backprop_angle_is_zero_and_sign_symmetry_shares_the_signs(task):
    _, bp_angles = _run(task, "bp")
    assert np.all(bp_angles == 0.0)
    for name in ("usf", "frsf", "brsf"):
        _, angles = _run(task, name)
        assert np.all(angles < 60.0)  # every sign agrees: always below 90
