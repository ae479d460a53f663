"""models.knet: the Krizhevsky-style CIFAR-10 network of Nayebi et al. (2020), against closed forms, a reference pass and finite differences."""

import json

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import bioplastic as bp
from bioplastic.losses import CrossEntropy
from bioplastic.network import Network
from bioplastic.ops import forward
from bioplastic.synapses import ConvProjection, Projection

CHANNELS = (32, 32, 64)


def _n_parameters(in_shape, n_outputs, dense=None):
    """Weights and biases of knet in closed form: three 5x5 convolutions, each pooled 2x2, then the all-to-all layers."""
    channels, height, width = in_shape
    convs, pre = 0, channels
    for out in CHANNELS:
        convs += out * pre * 25 + out
        pre, height, width = out, height // 2, width // 2
    n_flat = pre * height * width
    widths = [n_flat] + ([] if dense is None else [dense]) + [n_outputs]
    return convs + sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))


def test_default_knet_has_cifar10_shapes_and_the_closed_form_parameter_count():
    net = bp.models.knet()
    assert net.sizes == (3072, 32 * 16 * 16, 32 * 8 * 8, 64 * 4 * 4, 10)
    convs = net.projections[:3]
    assert all(isinstance(p, ConvProjection) for p in convs) and type(net.projections[3]) is Projection
    assert [p.in_shape for p in convs] == [(3, 32, 32), (32, 16, 16), (32, 8, 8)]
    assert [p.conv_shape for p in convs] == [(32, 32, 32), (32, 16, 16), (64, 8, 8)]  # padding 2: the maps keep their size
    assert [p.out_shape for p in convs] == [(32, 16, 16), (32, 8, 8), (64, 4, 4)]
    assert [p.shape for p in convs] == [(32, 3, 5, 5), (32, 32, 5, 5), (64, 32, 5, 5)]
    assert [(p.kernel_size, p.stride, p.padding, p.pool, p.pool_mode) for p in convs] == [(5, 1, 2, 2, "average")] * 3
    assert (net.projections[3].n_pre, net.projections[3].n_post) == (1024, 10)
    assert [p.activation_.name for p in net.populations[1:]] == ["relu"] * 3 + ["softmax"]
    assert [p.noise for p in net.populations] == [None] + ["gaussian"] * 4
    state = net.init_state([0])
    counted = sum(w[0].size for w in state.weights) + sum(b[0].size for b in state.biases)
    assert counted == _n_parameters((3, 32, 32), 10) == 89_578


@pytest.mark.parametrize("in_shape, n_outputs, dense", [((1, 12, 10), 4, None), ((3, 8, 8), 10, 7), ((2, 17, 9), 3, 1)])
def test_knet_shapes_and_parameter_count_on_other_images_and_with_a_hidden_layer(in_shape, n_outputs, dense):
    net = bp.models.knet(in_shape=in_shape, n_outputs=n_outputs, dense=dense, pool_mode="max", hidden="tanh", readout="linear",
                         noise=None, init="he_normal", init_scale=0.5)
    _, height, width = in_shape
    maps = [(32, height // 2, width // 2), (32, height // 4, width // 4), (64, height // 8, width // 8)]
    assert [p.out_shape for p in net.projections[:3]] == maps
    assert [p.pool_mode for p in net.projections[:3]] == ["max"] * 3
    assert all(p.init == "he_normal" and p.init_scale == 0.5 for p in net.projections)
    hidden = () if dense is None else (dense,)
    assert net.sizes == (int(np.prod(in_shape)), *(int(np.prod(m)) for m in maps), *hidden, n_outputs)
    assert [p.activation_.name for p in net.populations[1:]] == ["tanh"] * (3 + len(hidden)) + ["linear"]
    assert all(p.noise is None for p in net.populations)
    state = net.init_state([0])
    assert sum(w[0].size for w in state.weights) + sum(b[0].size for b in state.biases) == _n_parameters(in_shape, n_outputs, dense)


def test_knet_without_biases_has_none():
    net = bp.models.knet(in_shape=(3, 8, 8), bias=False)
    assert not any(p.bias for p in net.projections)
    assert all(b is None for b in net.init_state([0]).biases)


def test_knet_refuses_bad_parameters_by_name():
    with pytest.raises(ValueError) as info:
        bp.models.knet(in_shape=(3, 7, 32))
    assert str(info.value) == ("knet in_shape (3, 7, 32): height and width should be at least 8 (three 2x2 poolings halve them), "
                               "got 7x32")
    with pytest.raises(ValueError) as info:
        bp.models.knet(in_shape=(32, 32))
    assert str(info.value) == "knet in_shape should be three integers (channels, height, width), e.g. (3, 32, 32), got (32, 32)"
    with pytest.raises(ValueError, match="knet dense should be at least 1, was 0"):
        bp.models.knet(dense=0)
    with pytest.raises(TypeError, match="knet dense should be an integer >= 1, got 2.5"):
        bp.models.knet(dense=2.5)
    with pytest.raises(ValueError, match="unknown ConvProjection pool_mode 'median'"):
        bp.models.knet(pool_mode="median")
    with pytest.raises(TypeError):
        bp.models.knet((3, 32, 32))  # keyword-only


@pytest.mark.parametrize("pool_mode", ["average", "max"])
def test_knet_description_round_trips_through_json(pool_mode):
    net = bp.models.knet(in_shape=(3, 8, 8), dense=6, pool_mode=pool_mode)
    description = net.describe()
    again = Network.from_description(json.loads(json.dumps(description)))
    assert again.describe() == description
    assert [p.pool_mode for p in again.projections[:3]] == [pool_mode] * 3
    np.testing.assert_array_equal(again.init_state([4]).weights[1], net.init_state([4]).weights[1])


def _reference_output(net, state, x, member):
    """Member ``member``'s readout on flat images ``x``: convolutions as windows times kernels (einsum), then pooling, bias, activation."""
    rates = x.reshape((len(x), *net.projections[0].in_shape))
    for k, proj in enumerate(net.projections[:3]):
        padded = np.pad(rates, ((0, 0), (0, 0), (2, 2), (2, 2)))
        windows = sliding_window_view(padded, (5, 5), axis=(2, 3))  # (batch, channels, height, width, 5, 5)
        h = np.einsum("bchwij,ocij->bohw", windows, state.weights[k][member])
        batch, channels, height, width = h.shape
        blocks = h[:, :, : height // 2 * 2, : width // 2 * 2].reshape(batch, channels, height // 2, 2, width // 2, 2)
        h = (blocks.max(axis=(3, 5)) if proj.pool_mode == "max" else blocks.mean(axis=(3, 5))) + state.biases[k][member][:, None, None]
        rates = np.maximum(h, 0)
    h = rates.reshape(len(x), -1) @ state.weights[3][member].T + state.biases[3][member]
    e = np.exp(h - h.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("pool_mode", ["average", "max"])
def test_knet_forward_pass_gives_class_probabilities_equal_to_a_reference(pool_mode):
    net = bp.models.knet(in_shape=(3, 8, 8), pool_mode=pool_mode)
    state = net.init_state([0, 1])
    rng = np.random.default_rng(2)
    for b in state.biases:
        b += 0.1 * rng.standard_normal(b.shape)
    x = rng.standard_normal((5, 3 * 8 * 8))
    output = forward(net, state, x).output
    assert output.shape == (2, 5, 10)
    np.testing.assert_allclose(output.sum(axis=-1), 1.0, rtol=1e-14)
    for member in range(2):
        np.testing.assert_allclose(output[member], _reference_output(net, state, x, member), rtol=1e-12, atol=1e-15)
    assert not np.allclose(output[0], output[1])  # members drew their own weights


@pytest.mark.parametrize("pool_mode", ["average", "max"])
def test_backprop_through_knet_equals_finite_differences(pool_mode):
    net = bp.models.knet(in_shape=(3, 8, 8), dense=6, pool_mode=pool_mode)
    state = net.init_state([0])
    rng = np.random.default_rng(3)
    for b in state.biases:
        b += 0.1 * rng.standard_normal(b.shape)
    x = rng.standard_normal((4, 3 * 8 * 8))
    target = np.eye(10)[rng.integers(0, 10, 4)]
    loss = CrossEntropy()
    grad = bp.Backprop().directions(net, state, x, target, loss)

    def batch_loss(s):
        return loss(forward(net, s, x).output, target).mean()

    checked = 0
    for k in range(net.n_layers):
        for name in ("weights", "biases"):
            params, got = getattr(state, name)[k], getattr(grad, name)[k]
            assert got.shape == params.shape
            for flat in rng.choice(params.size, size=3, replace=False):
                idx = np.unravel_index(flat, params.shape)
                plus, minus = state.copy(), state.copy()
                getattr(plus, name)[k][idx] += 1e-6
                getattr(minus, name)[k][idx] -= 1e-6
                numeric = (batch_loss(plus) - batch_loss(minus)) / 2e-6
                np.testing.assert_allclose(got[idx], numeric, rtol=1e-5, atol=1e-9, err_msg=f"{name}[{k}][{idx}]")
                checked += 1
    assert checked == 2 * 3 * net.n_layers
