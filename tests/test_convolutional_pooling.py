"""Max pooling of feature maps: its switches, perturbations through it, updates routed to its winners, its description.

The passes against naive loops and finite differences, node perturbation's estimates and the training runs through max
pooling are in test_convolutional_networks, beside average pooling's.
"""

import json

import numpy as np
import pytest
from cnn_helpers import naive_conv, naive_max_pool, random_batch, small_cnn, unit_noise
from conftest import state_away_from_init

import bioplastic as bp
from bioplastic.network import Network
from bioplastic.ops import conv_projection_transpose, deltas_to_updates, forward, perturbation_change
from bioplastic.synapses import ConvProjection


def test_max_pooling_of_the_summed_input_is_max_pooling_of_the_rates():
    net = small_cnn("max")
    state = state_away_from_init(net)
    x, _ = random_batch()
    activity = forward(net, state, x)
    conv = activity.switches[0].conv + state.biases[0][:, None, :, None, None]  # the convolution's units' summed input
    rates = np.tanh(conv)[..., :6, :6].reshape(2, 4, 3, 3, 2, 3, 2).max(axis=(4, 6))
    np.testing.assert_allclose(activity.rates[1], rates.reshape(2, 4, -1), rtol=1e-14)


@pytest.mark.parametrize("sigma", [1e-4, 0.5])
def test_perturbation_change_through_max_pooling_equals_the_difference_of_two_passes(sigma):
    # exact where the noise moves a window's maximum too (sigma = 0.5): through max_j((c_j - c_max) + d_j)
    net = small_cnn("max")
    state = state_away_from_init(net)
    x, _ = random_batch()
    noise = unit_noise(net, np.random.default_rng(2), rows=len(x))
    clean = forward(net, state, x)
    inputs, changes = perturbation_change(net, state, clean, noise, sigma, with_inputs=True)
    noisy = forward(net, state, x, perturbation=[sigma * n for n in noise])
    for k in range(net.n_layers):
        np.testing.assert_allclose(inputs[k], noisy.inputs[k] - clean.inputs[k], rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(changes[k], noisy.rates[k + 1] - clean.rates[k + 1], rtol=1e-10, atol=1e-14)
    moved = np.any(noisy.switches[1].winners != clean.switches[1].winners)
    assert moved == (sigma == 0.5)
    np.testing.assert_array_equal(noisy.switches[0].winners, clean.switches[0].winners)  # the noise enters after the pooling


def test_an_update_goes_through_the_switches_of_its_own_pass():
    # a noisy pass whose second pooling picks other winners than the clean pass: the kernel change of projection 1
    # routes each pooled unit's factor to the winner of that pass, and the presynaptic rates are that pass's
    net = small_cnn("max")
    state = state_away_from_init(net)
    x, _ = random_batch()
    rng = np.random.default_rng(6)
    noisy = forward(net, state, x, perturbation=[0.5 * n for n in unit_noise(net, rng, rows=len(x))])
    clean = forward(net, state, x)
    assert np.any(noisy.switches[1].winners != clean.switches[1].winners)
    post = rng.standard_normal((2, len(x), net.populations[2].n_neurons))
    weights, biases = deltas_to_updates(net, noisy, [None, post, None, None], 1.0)
    proj = net.projections[1]
    expected = np.zeros_like(state.weights[1])
    for e in range(2):
        for n in range(len(x)):
            pre = np.pad(noisy.rates[1][e, n].reshape(proj.in_shape), ((0, 0), (1, 1), (1, 1)))
            conv = naive_conv(noisy.rates[1][e, n].reshape(proj.in_shape), state.weights[1][e], 1, 1)
            _, winners = naive_max_pool(conv, 2)
            for o, p, q in np.ndindex(post.shape[-1] // 4, 2, 2):
                r, c = winners[o, p, q]
                expected[e, o] += post[e, n].reshape(4, 2, 2)[o, p, q] * pre[:, r : r + 2, c : c + 2]
    np.testing.assert_allclose(weights[1], expected, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(biases[1], post.reshape(2, len(x), 4, 4).sum(axis=(1, 3)), rtol=1e-12)
    through_clean = deltas_to_updates(net, clean, [None, post, None, None], 1.0)[0][1]
    assert np.abs(through_clean - expected).max() > 1e-3


def test_a_max_pooled_delta_needs_the_switches_of_its_pass():
    net = small_cnn("max")
    state = state_away_from_init(net)
    delta = np.ones((2, 4, net.projections[0].n_post))
    with pytest.raises(ValueError) as info:
        conv_projection_transpose(net.projections[0], delta, state.weights[0])
    assert str(info.value) == (f"the max-pooled projection {net.projections[0]!r} needs the switches of its forward pass "
                               "(Activity.switches), got None")


def test_pool_mode_round_trips_through_the_description():
    net = small_cnn("max")
    description = json.loads(json.dumps(net.describe()))
    assert [p.get("pool_mode") for p in description["projections"]] == ["max", "max", None, None]
    again = Network.from_description(description)
    assert again.describe() == net.describe()
    assert [getattr(p, "pool_mode", None) for p in again.projections] == ["max", "max", None, None]
    state = again.init_state([0])
    np.testing.assert_array_equal(forward(again, state, random_batch()[0]).output, forward(net, state, random_batch()[0]).output)
    conv = ConvProjection((1, 6, 6), 2, 3, pool=2, pool_mode="MAX")
    assert conv.pool_mode == "max" and conv.describe()["pool_mode"] == "max"
    assert repr(conv) == "ConvProjection((1, 6, 6) -> (2, 2, 2), kernel_size=3, stride=1, padding=0, pool=2, pool_mode='max', init='xavier_normal')"
    assert ConvProjection((1, 6, 6), 2, 3, pool=2).describe()["pool_mode"] == "average"
    old = {k: v for k, v in ConvProjection((1, 6, 6), 2, 3, pool=2).describe().items() if k not in ("kind", "pool_mode")}
    assert ConvProjection(**old).pool_mode == "average"  # descriptions written before max pooling existed


def test_a_bad_pool_mode_is_named():
    with pytest.raises(ValueError) as info:
        ConvProjection((1, 6, 6), 2, 3, pool=2, pool_mode="min")
    assert str(info.value) == "unknown ConvProjection pool_mode 'min'; expected one of 'average', 'max'"
    with pytest.raises(ValueError) as info:
        bp.models.cnn((1, 6, 6), [dict(out_channels=2, kernel_size=3, pool=2, pool_mode=2)], 3)
    assert str(info.value) == "unknown ConvProjection pool_mode 2; expected one of 'average', 'max'"
    with pytest.raises(ValueError, match=r"may have \['stride', 'padding', 'pool', 'pool_mode'\]; unknown \['pooling'\]"):
        bp.models.cnn((1, 6, 6), [dict(out_channels=2, kernel_size=3, pooling="max")], 3)
