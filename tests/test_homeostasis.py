"""Synaptic scaling keeps every neuron's incoming RMS at its target."""

import numpy as np
import pytest

import bioplastic as bp
from bioplastic.homeostasis import incoming_rms


def test_incoming_rms_matches_loop():
    w = np.random.default_rng(0).standard_normal((2, 3, 5))
    expected = np.array([[np.sqrt(np.mean(w[e, i] ** 2)) for i in range(3)] for e in range(2)])
    np.testing.assert_allclose(incoming_rms(w), expected, rtol=1e-13)


@pytest.mark.parametrize("layers", ["all", [0]])
def test_scaling_holds_rms_at_initial_value_during_training(layers):
    task = bp.tasks.NonlinearStudentTeacher(n_train=400, n_test=100)
    net = bp.models.mlp((20, 30, 5), hidden="tanh")
    scaling = bp.SynapticScaling(layers=layers)
    initial = net.init_state([0, 1])
    hist = bp.train(net, bp.NodePerturbation(sigma=1e-3), task, n_epochs=3, learning_rate=0.05, seeds=[0, 1],
                    batch_size=20, homeostasis=scaling, progress=False)
    final = hist.final_state_
    for k in range(net.n_layers):
        scaled = layers == "all" or k in layers
        if scaled:
            np.testing.assert_allclose(incoming_rms(final.weights[k]), incoming_rms(initial.weights[k]), rtol=1e-12)
        else:
            assert not np.allclose(incoming_rms(final.weights[k]), incoming_rms(initial.weights[k]), rtol=1e-3)
    assert np.all(hist.final() < hist.records["test_error"][:, 0])


def test_fixed_target():
    net = bp.models.mlp((4, 6, 2))
    state = net.init_state([0])
    scaling = bp.SynapticScaling(target=0.3)
    targets = scaling.initial_targets(net, state)
    scaling.apply(state, targets)
    for w in state.weights:
        np.testing.assert_allclose(incoming_rms(w), 0.3, rtol=1e-12)


def test_scaling_changes_direction_of_nothing():
    """Scaling only rescales rows: each row's direction is unchanged."""
    net = bp.models.mlp((4, 6, 2))
    state = net.init_state([0])
    before = state.copy()
    for w in state.weights:
        w *= 3.0
    scaling = bp.SynapticScaling()
    scaling.apply(state, scaling.initial_targets(net, before))
    for a, b in zip(state.weights, before.weights, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
