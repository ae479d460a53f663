"""The small convolutional networks of the tests of feature maps, their data, and naive references for their passes."""

import numpy as np

import bioplastic as bp

#: the pool modes of a convolutional projection
POOL_MODES = ("average", "max")

#: the convolutions of :func:`small_cnn` per pool mode, on 2x7x6 maps. Average: conv 3x3 (padding 1) 3x7x6 -> pool 3x3x3 ->
#: conv 2x2 4x2x2. Max: conv 3x3 (padding 1) 3x7x6 -> max pool 3x3x3 (row 7 in no window) -> conv 2x2 (padding 1) 4x4x4 ->
#: max pool 4x2x2
LAYERS = {
    "average": [dict(out_channels=3, kernel_size=3, padding=1, pool=2), dict(out_channels=4, kernel_size=2)],
    "max": [dict(out_channels=3, kernel_size=3, padding=1, pool=2, pool_mode="max"),
            dict(out_channels=4, kernel_size=2, padding=1, pool=2, pool_mode="max")],
}


def small_cnn(pool_mode="average", **kw):
    """2 x 7 x 6 maps -> the two convolutions of ``LAYERS[pool_mode]`` -> 5 -> 3, tanh; ``kw`` goes to :func:`bioplastic.models.cnn`."""
    return bp.models.cnn((2, 7, 6), LAYERS[pool_mode], 3, dense=(5,), hidden="tanh", **kw)


def random_batch(*, batch=4, seed=1):
    """Standard normal inputs (batch, 84) and targets (batch, 3) of :func:`small_cnn`."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch, 84)), rng.standard_normal((batch, 3))


def unit_noise(net, rng, *, n_members=2, rows):
    """Standard normal noise ``(n_members, rows, n_neurons)`` for every population of ``net`` but the input."""
    return [rng.standard_normal((n_members, rows, p.n_neurons)) for p in net.populations[1:]]


def flat_directions(directions):
    """Every kernel (weight matrix) and bias direction of each member in one row: ``(n_members, n_parameters)``."""
    return np.concatenate([w.reshape(w.shape[0], -1) for w in directions.weights] + list(directions.biases), axis=1)


def assert_same_directions(got, expected):
    """The weight and bias directions of ``got`` and ``expected`` are equal bit for bit."""
    for a, b in zip(got.weights + got.biases, expected.weights + expected.biases, strict=True):
        np.testing.assert_array_equal(a, b)


def naive_conv(x, kernels, stride, padding):
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


def naive_average_pool(c, pool):
    """(O, h, w) -> the means (O, h // pool, w // pool) of ``pool x pool`` windows side by side; ``c`` itself without ``pool``."""
    if not pool:
        return c
    out_channels, oh, ow = c.shape[0], c.shape[1] // pool, c.shape[2] // pool
    return np.array([[[c[o, p * pool : (p + 1) * pool, q * pool : (q + 1) * pool].mean() for q in range(ow)] for p in range(oh)]
                     for o in range(out_channels)])


def naive_max_pool(c, pool):
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
