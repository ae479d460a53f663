"""Member i of an ensemble reproduces the solo run with its learning rate and seed.

Initial weights, noise and minibatches are the same bit for bit; the results
agree to rounding, because the ensemble's combined matrix products (one GEMM
for all members on a shared input, evaluation chunks sized to the ensemble)
add the same terms in another order than the solo run's. The tolerance is
the one the README states: 64 units of roundoff ``u`` (half the machine
epsilon) relative, for the recorded errors and for the weights (relative to
each layer's largest weight).
"""

import numpy as np
import pytest

import bioplastic as bp
from bioplastic.engines.numpy import NumpyEngine
from bioplastic.losses import get_loss

#: stated tolerance, in units of roundoff of the dtype
N_ROUNDOFF = 64

RULES = {
    "np": (lambda: bp.NodePerturbation(sigma=1e-3), [0.003, 0.01, 0.03], None),
    "np_scaling": (lambda: bp.NodePerturbation(sigma=1e-3), [0.003, 0.01, 0.03], bp.SynapticScaling()),
    "sgd": (bp.Backprop, [0.01, 0.03, 0.1], None),
    "reinforce": (lambda: bp.Reinforce(sigma=1e-3), [0.001, 0.003, 0.01], None),
}
SEEDS = [0, 1, 2]


def _task():
    return bp.tasks.NonlinearStudentTeacher(n_inputs=8, n_hidden=10, n_outputs=3, n_train=200, n_test=100, seed=0)


def _network():
    return bp.models.mlp((8, 30, 3), hidden="tanh")


def _tolerance(dtype):
    return N_ROUNDOFF * np.finfo(dtype).eps / 2


def _max_relative_record_difference(a, b):
    return float(np.max(np.abs(a - b) / np.abs(b)))


def _max_relative_weight_difference(state_a, i, state_b, j):
    worst = 0.0
    for a, b in zip(state_a.weights + state_a.biases, state_b.weights + state_b.biases, strict=True):
        if a is not None:
            worst = max(worst, float(np.max(np.abs(a[i] - b[j])) / np.max(np.abs(b[j]))))
    return worst


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("rule_name", list(RULES))
def test_member_equals_solo_run_within_the_stated_tolerance(rule_name, dtype):
    make_rule, learning_rates, homeostasis = RULES[rule_name]
    task, network = _task(), _network()
    settings = dict(n_epochs=6, batch_size=20, dtype=dtype, progress=False, homeostasis=homeostasis)
    ensemble = bp.train(network, make_rule(), task, learning_rate=learning_rates, seeds=SEEDS, **settings)
    assert not ensemble.diverged.any()
    tol = _tolerance(dtype)
    solos = {}
    for i, (lr, seed) in enumerate(zip(ensemble.learning_rates, ensemble.seeds, strict=True)):
        solo = bp.train(network, make_rule(), task, learning_rate=float(lr), seeds=int(seed), **settings)
        solos[i] = solo
        for key, values in ensemble.records.items():
            difference = _max_relative_record_difference(values[i], solo.records[key][0])
            assert difference <= tol, f"member {i} (lr={lr}, seed={seed}) {key} differs by {difference:.3g} > {tol:.3g}"
        difference = _max_relative_weight_difference(ensemble.final_state_, i, solo.final_state_, 0)
        assert difference <= tol, f"member {i} (lr={lr}, seed={seed}) weights differ by {difference:.3g} > {tol:.3g}"
    # the tolerance separates runs: another seed (same learning rate) is far outside it
    other = _max_relative_record_difference(ensemble.records["test_error"][0], solos[1].records["test_error"][0])
    assert other > 1e3 * _tolerance("float32")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_member_starts_from_the_solo_weights_and_noise_bit_for_bit(dtype):
    network, loss = _network(), get_loss("squared_error")
    seeds = [2, 0, 1, 2, 0]
    ensemble = NumpyEngine(network, bp.NodePerturbation(sigma=1e-3), loss, seeds=seeds, batch_size=20, dtype=dtype)
    ensemble.start_epoch(3)
    noise = [ensemble.noise_.next() for _ in range(3)]
    for i, seed in enumerate(seeds):
        solo = NumpyEngine(network, bp.NodePerturbation(sigma=1e-3), loss, seeds=[seed], batch_size=20, dtype=dtype)
        solo.start_epoch(3)
        for a, b in zip(ensemble.state_.weights + ensemble.state_.biases, solo.state_.weights + solo.state_.biases, strict=True):
            np.testing.assert_array_equal(a[i], b[0])
        for step in range(3):
            for a, b in zip(noise[step], solo.noise_.next(), strict=True):
                np.testing.assert_array_equal(a[i], b[0])
