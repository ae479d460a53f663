"""Max pooling of feature maps: the pass against naive loops, its gradients, its switches, the rules that learn through it."""

import json

import numpy as np
import pytest

import bioplastic as bp
from bioplastic.losses import SquaredError
from bioplastic.network import Network
from bioplastic.ops import conv_projection_transpose, deltas_to_updates, forward, perturbation_change, predict
from bioplastic.synapses import ConvProjection

#: 2x7x6 -> conv 3x3 (padding 1) 3x7x6 -> max pool 3x3x3 (row 7 in no window) -> conv 2x2 (padding 1) 4x4x4 -> max pool 4x2x2
LAYERS = [dict(out_channels=3, kernel_size=3, padding=1, pool=2, pool_mode="max"),
          dict(out_channels=4, kernel_size=2, padding=1, pool=2, pool_mode="max")]


def _network(**kw):
    return bp.models.cnn((2, 7, 6), LAYERS, 3, dense=(5,), hidden="tanh", **kw)


def _state(net, n_members=2, seed=0):
    state = net.init_state(list(range(n_members)))
    rng = np.random.default_rng(seed)
    for b in state.biases:
        b += 0.1 * rng.standard_normal(b.shape)
    return state


def _data(batch=4, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch, 84)), rng.standard_normal((batch, 3))


def _naive_conv(x, kernels, stride, padding):
    """One member, one sample: ``x`` (C, H, W), kernels (O, C, kh, kw) -> (O, h, w), loops over positions."""
    xp = np.pad(x, ((0, 0), (padding, padding), (padding, padding)))
    out_channels, _, kh, kw = kernels.shape
    oh, ow = (xp.shape[1] - kh) // stride + 1, (xp.shape[2] - kw) // stride + 1
    h = np.zeros((out_channels, oh, ow))
    for o in range(out_channels):
        for p in range(oh):
            for q in range(ow):
                h[o, p, q] = np.sum(kernels[o] * xp[:, p * stride : p * stride + kh, q * stride : q * stride + kw])
    return h


def _naive_max_pool(c, pool):
    """(O, h, w) -> the maxima (O, h // pool, w // pool) and each window's (row, column) of its first maximum."""
    out_channels, oh, ow = c.shape[0], c.shape[1] // pool, c.shape[2] // pool
    maxima, winners = np.zeros((out_channels, oh, ow)), np.zeros((out_channels, oh, ow, 2), dtype=int)
    for o in range(out_channels):
        for p in range(oh):
            for q in range(ow):
                best = None
                for i in range(pool):
                    for j in range(pool):
                        if best is None or c[o, p * pool + i, q * pool + j] > c[o, best[0], best[1]]:
                            best = (p * pool + i, q * pool + j)
                maxima[o, p, q], winners[o, p, q] = c[o, best[0], best[1]], best
    return maxima, winners


def test_forward_and_predict_equal_a_naive_loop_over_positions_and_windows():
    net = _network()
    state = _state(net)
    x, _ = _data()
    activity = forward(net, state, x)
    for e in range(2):
        for n in range(len(x)):
            rates = x[n].reshape(2, 7, 6)
            for k, proj in enumerate(net.projections[:2]):
                conv = _naive_conv(rates, state.weights[k][e], proj.stride, proj.padding)
                maxima, winners = _naive_max_pool(conv, proj.pool)
                h = maxima + state.biases[k][e][:, None, None]
                np.testing.assert_allclose(activity.inputs[k][e, n], h.ravel(), rtol=1e-12, atol=1e-13)
                switches = activity.switches[k]
                np.testing.assert_allclose(switches.conv[e, n], conv, rtol=1e-12, atol=1e-13)
                np.testing.assert_array_equal(np.stack(np.divmod(switches.winners[e, n], proj.pool), axis=-1),
                                              winners % proj.pool)
                rates = np.tanh(h)
    assert activity.switches[2:] == [None, None]
    np.testing.assert_allclose(predict(net, state, x), activity.output, rtol=1e-12, atol=1e-13)


def test_max_pooling_of_the_summed_input_is_max_pooling_of_the_rates():
    net = _network()
    state = _state(net)
    x, _ = _data()
    activity = forward(net, state, x)
    conv = activity.switches[0].conv + state.biases[0][:, None, :, None, None]  # the convolution's units' summed input
    rates = np.tanh(conv)[..., :6, :6].reshape(2, 4, 3, 3, 2, 3, 2).max(axis=(4, 6))
    np.testing.assert_allclose(activity.rates[1], rates.reshape(2, 4, -1), rtol=1e-14)


def test_backprop_equals_finite_differences_for_every_kernel_weight_and_bias():
    # random inputs and weights: no window holds two equal values, and a step of 1e-6 moves no maximum
    net = _network()
    state = _state(net)
    x, target = _data()
    loss = SquaredError()
    grad = bp.Backprop().directions(net, state, x, target, loss)

    def member_loss(s):
        return loss(forward(net, s, x).output, target).mean(axis=1)

    for k in range(net.n_layers):
        for params, got in ((state.weights, grad.weights), (state.biases, grad.biases)):
            numeric = np.zeros_like(params[k])
            for idx in np.ndindex(params[k].shape):
                plus, minus = state.copy(), state.copy()
                (plus.weights if params is state.weights else plus.biases)[k][idx] += 1e-6
                (minus.weights if params is state.weights else minus.biases)[k][idx] -= 1e-6
                numeric[idx] = (member_loss(plus) - member_loss(minus))[idx[0]] / 2e-6
            np.testing.assert_allclose(got[k], numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("sigma", [1e-4, 0.5])
def test_perturbation_change_through_max_pooling_equals_the_difference_of_two_passes(sigma):
    # exact where the noise moves a window's maximum too (sigma = 0.5): through max_j((c_j - c_max) + d_j)
    net = _network()
    state = _state(net)
    x, _ = _data()
    rng = np.random.default_rng(2)
    noise = [rng.standard_normal((2, len(x), p.n_neurons)) for p in net.populations[1:]]
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
    net = _network()
    state = _state(net)
    x, _ = _data()
    rng = np.random.default_rng(6)
    noisy = forward(net, state, x, perturbation=[0.5 * rng.standard_normal((2, len(x), p.n_neurons)) for p in net.populations[1:]])
    clean = forward(net, state, x)
    assert np.any(noisy.switches[1].winners != clean.switches[1].winners)
    post = rng.standard_normal((2, len(x), net.populations[2].n_neurons))
    weights, biases = deltas_to_updates(net, noisy, [None, post, None, None], 1.0)
    proj = net.projections[1]
    expected = np.zeros_like(state.weights[1])
    for e in range(2):
        for n in range(len(x)):
            pre = np.pad(noisy.rates[1][e, n].reshape(proj.in_shape), ((0, 0), (1, 1), (1, 1)))
            conv = _naive_conv(noisy.rates[1][e, n].reshape(proj.in_shape), state.weights[1][e], 1, 1)
            _, winners = _naive_max_pool(conv, 2)
            for o, p, q in np.ndindex(post.shape[-1] // 4, 2, 2):
                r, c = winners[o, p, q]
                expected[e, o] += post[e, n].reshape(4, 2, 2)[o, p, q] * pre[:, r : r + 2, c : c + 2]
    np.testing.assert_allclose(weights[1], expected, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(biases[1], post.reshape(2, len(x), 4, 4).sum(axis=(1, 3)), rtol=1e-12)
    through_clean = deltas_to_updates(net, clean, [None, post, None, None], 1.0)[0][1]
    assert np.abs(through_clean - expected).max() > 1e-3


def test_a_max_pooled_delta_needs_the_switches_of_its_pass():
    net = _network()
    state = _state(net)
    delta = np.ones((2, 4, net.projections[0].n_post))
    with pytest.raises(ValueError) as info:
        conv_projection_transpose(net.projections[0], delta, state.weights[0])
    assert str(info.value) == (f"the max-pooled projection {net.projections[0]!r} needs the switches of its forward pass "
                               "(Activity.switches), got None")


def _flat(directions):
    return np.concatenate([w.reshape(w.shape[0], -1) for w in directions.weights] + list(directions.biases), axis=1)


@pytest.mark.parametrize("rule", [bp.NodePerturbation(sigma=1e-4), bp.NodePerturbation(sigma=1e-4, clean_pass=False),
                                  bp.IterativeNodePerturbation(sigma=1e-4)], ids=["np", "np_two_noisy_passes", "inp"])
def test_node_perturbation_on_max_pooled_feature_maps_is_unbiased(rule):
    # noise on the pooled units; M estimates; |mean - g|^2 concentrates at tr(Cov) / M (d = 212 parameters): within a
    # factor 2, at M and 4M
    net = _network()
    state = _state(net, n_members=1)
    x, target = _data(batch=2)
    g = _flat(bp.Backprop().directions(net, state, x, target, SquaredError()))[0]
    rng = np.random.default_rng(3)
    estimates = []
    for _ in range(1200):
        noise = [rng.standard_normal((1, rule.draws_per_sample * len(x), p.n_neurons)) for p in net.populations[1:]]
        estimates.append(_flat(rule.directions(net, state, x, target, SquaredError(), noise=noise))[0])
    estimates = np.array(estimates)
    trace = estimates.var(axis=0).sum()
    for m in (300, 1200):
        error = np.sum((estimates[:m].mean(axis=0) - g) ** 2)
        assert error < 2 * trace / m, (m, error, trace / m)


def _images():
    """2 x 7 x 6 noise images with one band of rows (0-1, 2-4 or 5-6) of channel 0 brighter by 1; the class is the band."""
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 3, 400)
    x = rng.standard_normal((400, 2, 7, 6))
    for band, rows in enumerate((slice(0, 2), slice(2, 5), slice(5, 7))):
        x[labels == band, 0, rows] += 1.0
    x = x.reshape(400, -1)
    return bp.tasks.base.DatasetTask(x[:320], labels[:320], x[320:], labels[320:], n_classes=3, name="bright_band")


#: the rules that run on max-pooled feature maps, with a learning rate that learns the task in 4 epochs (train loss 1.12
#: at the start; measured at the end: BP 0.06, NP 0.97, ANP 0.98, INP 0.75, FA 0.33, DFA 0.21)
RUNNABLE = {
    "backprop": (bp.Backprop(), 0.5),
    "node_perturbation": (bp.NodePerturbation(sigma=1e-3), 0.05),
    "activity_node_perturbation": (bp.ActivityNodePerturbation(sigma=1e-3), 0.1),
    "iterative_node_perturbation": (bp.IterativeNodePerturbation(sigma=1e-3), 0.2),
    "feedback_alignment": (bp.FeedbackAlignment(), 0.5),
    "direct_feedback_alignment": (bp.DirectFeedbackAlignment(), 0.5),
}


@pytest.mark.parametrize("name", sorted(RUNNABLE))
def test_rule_trains_a_max_pooled_cnn_member_equals_solo_and_resumes_bit_for_bit(name, tmp_path):
    rule, rate = RUNNABLE[name]
    n_epochs = 4
    net = _network(readout="softmax")
    kw = dict(batch_size=20, progress=False, loss="cross_entropy")
    rates = [rate / 3, rate]
    ensemble = bp.train(net, rule, _images(), n_epochs=n_epochs, learning_rate=rates, seeds=[0, 1], **kw)
    solo = bp.train(net, rule, _images(), n_epochs=n_epochs, learning_rate=rate, seeds=[1], **kw)
    # the solo run's rounding differs from the ensemble's (one GEMM for all members); a perturbation rule's step is a
    # finite difference of the loss, which amplifies that by up to ~1/sigma whenever the noise moves a window's maximum:
    # the runs agree to rounding for the first epoch and then drift apart, slowly
    np.testing.assert_allclose(ensemble.records["test_loss"][-1][:2], solo.records["test_loss"][0][:2], rtol=1e-10)
    np.testing.assert_allclose(ensemble.records["test_loss"][-1], solo.records["test_loss"][0], rtol=1e-3 if rule.uses_noise else 1e-10)
    loss = ensemble.records["train_loss"][2:].mean(axis=0)  # the larger rate, both seeds
    assert loss[-1] < 0.95 * loss[0], loss  # it learns
    checkpoint = tmp_path / "run.checkpoint"
    bp.train(net, rule, _images(), n_epochs=2, learning_rate=rates, seeds=[0, 1], checkpoint=checkpoint, checkpoint_every=1, **kw)
    resumed = bp.train(net, rule, _images(), n_epochs=n_epochs, learning_rate=rates, seeds=[0, 1], checkpoint=checkpoint, checkpoint_every=1,
                       **kw)
    for a, b in zip(ensemble.final_state_.weights + ensemble.final_state_.biases,
                    resumed.final_state_.weights + resumed.final_state_.biases, strict=True):
        np.testing.assert_array_equal(a, b)


def test_pool_mode_round_trips_through_the_description():
    net = _network()
    description = json.loads(json.dumps(net.describe()))
    assert [p.get("pool_mode") for p in description["projections"]] == ["max", "max", None, None]
    again = Network.from_description(description)
    assert again.describe() == net.describe()
    assert [getattr(p, "pool_mode", None) for p in again.projections] == ["max", "max", None, None]
    state = again.init_state([0])
    np.testing.assert_array_equal(forward(again, state, _data()[0]).output, forward(net, state, _data()[0]).output)
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
