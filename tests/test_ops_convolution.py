"""Convolution and pooling kernels, each against a naive loop over members, samples, positions and channels."""

import numpy as np
import pytest

from bioplastic.ops import (
    Workspace,
    avg_pool2d,
    avg_pool2d_backward,
    conv2d,
    conv2d_input_gradient,
    conv2d_weight_update,
    conv_output_shape,
    convolution,
    im2col,
    max_pool2d,
    max_pool2d_backward,
)
from bioplastic.ops.convolution import sample_blocks

#: (kernel_size, stride, padding): kernel sizes 1/3/5, strides 1-2, paddings 0-2, and a rectangular case
GEOMETRIES = [(k, s, p) for k in (1, 3, 5) for s in (1, 2) for p in (0, 1, 2)] + [((3, 5), (2, 1), (1, 2))]
#: (in_channels, out_channels), cycled over the geometries
CHANNELS = [(1, 2), (2, 3), (3, 1)]
N_MEMBERS, BATCH, HEIGHT, WIDTH = 2, 2, 7, 9


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def _cases():
    return [pytest.param(*geometry, *CHANNELS[n % len(CHANNELS)], id=f"k{geometry[0]}-s{geometry[1]}-p{geometry[2]}")
            for n, geometry in enumerate(GEOMETRIES)]


def _arrays(kernel_size, in_channels, out_channels, *, shared, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    kh, kw = _pair(kernel_size)
    x_shape = (BATCH, in_channels, HEIGHT, WIDTH) if shared else (N_MEMBERS, BATCH, in_channels, HEIGHT, WIDTH)
    x = rng.standard_normal(x_shape).astype(dtype)
    kernels = rng.standard_normal((N_MEMBERS, out_channels, in_channels, kh, kw)).astype(dtype)
    bias = rng.standard_normal((N_MEMBERS, out_channels)).astype(dtype)
    return x, kernels, bias


def _padded(x, padding):
    """``x`` with zeros around its last two axes, written out by hand."""
    ph, pw = _pair(padding)
    out = np.zeros((*x.shape[:-2], x.shape[-2] + 2 * ph, x.shape[-1] + 2 * pw))
    out[..., ph:ph + x.shape[-2], pw:pw + x.shape[-1]] = x
    return out


def _out_size(height, width, kernel_size, stride, padding):
    (kh, kw), (sh, sw), (ph, pw) = _pair(kernel_size), _pair(stride), _pair(padding)
    return (height + 2 * ph - kh) // sh + 1, (width + 2 * pw - kw) // sw + 1


def _per_member(x):
    return np.broadcast_to(x, (N_MEMBERS, *x.shape)) if x.ndim == 4 else x


def _naive_conv(x, kernels, bias, stride, padding):
    x = _padded(_per_member(x), padding)
    n_members, out_channels, in_channels, kh, kw = kernels.shape
    (sh, sw) = _pair(stride)
    oh, ow = (x.shape[-2] - kh) // sh + 1, (x.shape[-1] - kw) // sw + 1
    h = np.zeros((n_members, x.shape[1], out_channels, oh, ow))
    for e in range(n_members):
        for b in range(x.shape[1]):
            for o in range(out_channels):
                for p in range(oh):
                    for q in range(ow):
                        total = 0.0 if bias is None else bias[e, o]
                        for c in range(in_channels):
                            total += np.sum(kernels[e, o, c] * x[e, b, c, p * sh:p * sh + kh, q * sw:q * sw + kw])
                        h[e, b, o, p, q] = total
    return h


def _naive_transposed_conv(delta, kernels, height, width, stride, padding):
    """``dx`` with every output position's ``delta`` spread back over its patch through ``kernels``."""
    n_members, batch, out_channels, oh, ow = delta.shape
    _, _, in_channels, kh, kw = kernels.shape
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    dx = np.zeros((n_members, batch, in_channels, height + 2 * ph, width + 2 * pw))
    for e in range(n_members):
        for b in range(batch):
            for o in range(out_channels):
                for p in range(oh):
                    for q in range(ow):
                        for c in range(in_channels):
                            dx[e, b, c, p * sh:p * sh + kh, q * sw:q * sw + kw] += delta[e, b, o, p, q] * kernels[e, o, c]
    return dx[..., ph:ph + height, pw:pw + width]


def _naive_weight_update(delta, x, kernel_size, stride, padding, coefficient):
    x = _padded(_per_member(x), padding)
    n_members, batch, out_channels, oh, ow = delta.shape
    in_channels = x.shape[2]
    (kh, kw), (sh, sw) = _pair(kernel_size), _pair(stride)
    dk = np.zeros((n_members, out_channels, in_channels, kh, kw))
    db = np.zeros((n_members, out_channels))
    for e in range(n_members):
        for b in range(batch):
            for o in range(out_channels):
                for p in range(oh):
                    for q in range(ow):
                        factor = coefficient[e, b] * delta[e, b, o, p, q]
                        db[e, o] += factor
                        for c in range(in_channels):
                            dk[e, o, c] += factor * x[e, b, c, p * sh:p * sh + kh, q * sw:q * sw + kw]
    return dk, db


# ----------------------------------------------------------------------------- geometry
@pytest.mark.parametrize("kernel_size, stride, padding", GEOMETRIES)
def test_conv_output_shape_is_the_closed_form(kernel_size, stride, padding):
    assert conv_output_shape(HEIGHT, WIDTH, kernel_size, stride, padding) == _out_size(HEIGHT, WIDTH, kernel_size, stride, padding)


def test_conv_output_shape_drops_an_incomplete_last_step():
    assert conv_output_shape(8, 8, 3, 2, 0) == (3, 3)  # positions 0, 2, 4; a fourth would need row 8
    assert conv_output_shape(5, 5, 5, 1, 0) == (1, 1)
    assert conv_output_shape(1, 1, 3, 1, 1) == (1, 1)


@pytest.mark.parametrize("args, error, message", [
    ((3, 4, 5, 1, 0), ValueError, "kernel_size 5 (5x5) is larger than the padded image (3x4: 3x4 with padding 0)"),
    ((3, 9, (4, 7), 1, (0, 1)), ValueError, "kernel_size (4, 7) (4x7) is larger than the padded image (3x11: 3x9 with padding (0, 1))"),
    ((7, 9, 3, 0, 0), ValueError, "stride should be at least 1, got 0"),
    ((7, 9, 3, (1, 0), 0), ValueError, "stride should be at least 1, got (1, 0)"),
    ((7, 9, 3, 1, -1), ValueError, "padding should be at least 0, got -1"),
    ((7, 9, 0, 1, 0), ValueError, "kernel_size should be at least 1, got 0"),
    ((7, 9, 2.5, 1, 0), TypeError, "kernel_size should be an integer or a pair of integers (along height, along width), got 2.5"),
    ((7, 9, (1, 2, 3), 1, 0), TypeError, "kernel_size should be an integer or a pair of integers (along height, along width), got (1, 2, 3)"),
    ((7, 9, 3, True, 0), TypeError, "stride should be an integer or a pair of integers (along height, along width), got True"),
    ((0, 9, 3, 1, 0), ValueError, "height should be at least 1, got 0"),
    ((7, 9.0, 3, 1, 0), TypeError, "width should be an integer >= 1, got 9.0"),
])
def test_conv_output_shape_names_the_bad_value(args, error, message):
    with pytest.raises(error) as info:
        conv_output_shape(*args)
    assert str(info.value) == message


# ----------------------------------------------------------------------------- im2col
@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("kernel_size, stride, padding, in_channels, out_channels", _cases())
def test_im2col_matches_loop(kernel_size, stride, padding, in_channels, out_channels, shared):
    x, _, _ = _arrays(kernel_size, in_channels, out_channels, shared=shared)
    patches = im2col(x, kernel_size, stride, padding)
    (kh, kw), (sh, sw) = _pair(kernel_size), _pair(stride)
    oh, ow = _out_size(HEIGHT, WIDTH, kernel_size, stride, padding)
    xp = _padded(x, padding)
    expected = np.zeros((*x.shape[:-4], BATCH * oh * ow, in_channels * kh * kw))
    for lead in np.ndindex(x.shape[:-4]):
        for b in range(BATCH):
            for p in range(oh):
                for q in range(ow):
                    for c in range(in_channels):
                        row = (b * oh + p) * ow + q
                        expected[(*lead, row, slice(c * kh * kw, (c + 1) * kh * kw))] = xp[(*lead, b, c, slice(p * sh, p * sh + kh),
                                                                                             slice(q * sw, q * sw + kw))].ravel()
    assert patches.shape == expected.shape and patches.dtype == x.dtype
    np.testing.assert_array_equal(patches, expected)


def test_im2col_writes_into_out_of_either_layout():
    x, _, _ = _arrays(3, 2, 1, shared=False)
    expected = im2col(x, 3, (2, 1), 1)
    rows, cols = expected.shape[-2:]
    row_major = np.full((N_MEMBERS, rows, cols), np.nan)
    column_major = np.full((N_MEMBERS, cols, rows), np.nan).swapaxes(-1, -2)
    assert im2col(x, 3, (2, 1), 1, out=row_major) is row_major
    assert im2col(x, 3, (2, 1), 1, out=column_major) is column_major
    np.testing.assert_array_equal(row_major, expected)
    np.testing.assert_array_equal(column_major, expected)
    with pytest.raises(ValueError) as info:
        im2col(x, 3, (2, 1), 1, out=np.empty((N_MEMBERS, rows, cols + 1)))
    assert str(info.value) == f"out should have shape {(N_MEMBERS, rows, cols)}, got {(N_MEMBERS, rows, cols + 1)}"
    with pytest.raises(ValueError) as info:
        im2col(x, 3, (2, 1), 1, out=np.empty((N_MEMBERS, rows, 2 * cols))[..., ::2])
    assert str(info.value) == "out should be C-contiguous or the transpose (of its last two axes) of a C-contiguous array"


def test_im2col_rejects_other_ranks():
    with pytest.raises(ValueError) as info:
        im2col(np.zeros((3, 7, 9)), 3, 1, 0)
    assert str(info.value) == ("x should have shape (batch, channels, height, width) or "
                               "(n_members, batch, channels, height, width), got shape (3, 7, 9)")


# ----------------------------------------------------------------------------- forward
@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("kernel_size, stride, padding, in_channels, out_channels", _cases())
def test_conv2d_matches_loop(kernel_size, stride, padding, in_channels, out_channels, shared):
    x, kernels, bias = _arrays(kernel_size, in_channels, out_channels, shared=shared)
    h = conv2d(x, kernels, bias, stride=stride, padding=padding)
    expected = _naive_conv(x, kernels, bias, stride, padding)
    assert h.shape == expected.shape
    np.testing.assert_allclose(h, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(conv2d(x, kernels, stride=stride, padding=padding), _naive_conv(x, kernels, None, stride, padding),
                               rtol=1e-12, atol=1e-12)


def test_conv2d_broadcast_input_is_the_shared_input_and_float32_stays_float32():
    x, kernels, bias = _arrays(3, 2, 3, shared=True, dtype=np.float32)
    shared = conv2d(x, kernels, bias, stride=2, padding=1)
    broadcast = conv2d(np.broadcast_to(x, (N_MEMBERS, *x.shape)), kernels, bias, stride=2, padding=1)
    copied = conv2d(np.repeat(x[None], N_MEMBERS, axis=0), kernels, bias, stride=2, padding=1)
    assert shared.dtype == np.float32
    np.testing.assert_array_equal(broadcast, shared)
    np.testing.assert_allclose(copied, shared, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(shared, _naive_conv(x.astype(float), kernels.astype(float), bias.astype(float), 2, 1), rtol=1e-4, atol=1e-4)


def test_conv2d_workspace_and_out_reuse_without_aliasing_results():
    workspace = Workspace()
    x, kernels, bias = _arrays(3, 2, 3, shared=False)
    small, small_kernels, _ = _arrays(1, 3, 2, shared=True, seed=1)
    first = conv2d(x, kernels, bias, padding=1, workspace=workspace)
    other = conv2d(small, small_kernels, workspace=workspace)  # another layer in the same workspace
    again = conv2d(x, kernels, bias, padding=1, workspace=workspace)
    assert again is not first
    np.testing.assert_array_equal(again, first)
    np.testing.assert_allclose(first, _naive_conv(x, kernels, bias, 1, 1), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(other, _naive_conv(small, small_kernels, None, 1, 0), rtol=1e-12, atol=1e-12)
    out = np.empty_like(first)
    assert conv2d(x, kernels, bias, padding=1, workspace=workspace, out=out) is out
    np.testing.assert_array_equal(out, first)


@pytest.mark.parametrize("args, kwargs, message", [
    ((np.zeros((2, 3, 7, 9)), np.zeros((2, 4, 2, 3, 3))), {}, "x has 3 channels, but the kernels expect in_channels = 2"),
    ((np.zeros((3, 2, 2, 7, 9)), np.zeros((2, 4, 2, 3, 3))), {}, "x has 3 members, kernels 2"),
    ((np.zeros((2, 2, 7, 9)), np.zeros((4, 2, 3, 3))), {}, "kernels should have shape (n_members, out_channels, in_channels, kh, kw), got shape (4, 2, 3, 3)"),
    ((np.zeros((2, 2, 7, 9)), np.zeros((2, 4, 2, 3, 3)), np.zeros((2, 3))), {},
     "bias should have shape (n_members, out_channels) = (2, 4), got (2, 3)"),
    ((np.zeros((2, 2, 2, 4)), np.zeros((2, 4, 2, 3, 3))), {}, "kernel_size (3, 3) (3x3) is larger than the padded image (2x4: 2x4 with padding 0)"),
    ((np.zeros((2, 2, 7, 9)), np.zeros((2, 4, 2, 3, 3))), {"stride": 0}, "stride should be at least 1, got 0"),
])
def test_conv2d_names_the_bad_value(args, kwargs, message):
    with pytest.raises(ValueError) as info:
        conv2d(*args, **kwargs)
    assert str(info.value) == message


# ----------------------------------------------------------------------------- input gradient
@pytest.mark.parametrize("kernel_size, stride, padding, in_channels, out_channels", _cases())
def test_conv2d_input_gradient_matches_loop_and_takes_a_feedback_kernel(kernel_size, stride, padding, in_channels, out_channels):
    _, kernels, _ = _arrays(kernel_size, in_channels, out_channels, shared=True)
    rng = np.random.default_rng(1)
    oh, ow = _out_size(HEIGHT, WIDTH, kernel_size, stride, padding)
    delta = rng.standard_normal((N_MEMBERS, BATCH, out_channels, oh, ow))
    feedback = rng.standard_normal(kernels.shape)
    for back in (kernels, feedback):
        dx = conv2d_input_gradient(delta, back, (HEIGHT, WIDTH), stride=stride, padding=padding)
        assert dx.shape == (N_MEMBERS, BATCH, in_channels, HEIGHT, WIDTH)
        np.testing.assert_allclose(dx, _naive_transposed_conv(delta, back, HEIGHT, WIDTH, stride, padding), rtol=1e-12, atol=1e-12)
    # the feedback kernel is the one used, not the forward kernels
    assert not np.allclose(conv2d_input_gradient(delta, feedback, (HEIGHT, WIDTH), stride=stride, padding=padding),
                           conv2d_input_gradient(delta, kernels, (HEIGHT, WIDTH), stride=stride, padding=padding))


FD_GEOMETRIES = [(3, 1, 1), (5, 2, 2), ((3, 5), (2, 1), (1, 2)), (3, 2, 0)]


@pytest.mark.parametrize("kernel_size, stride, padding", FD_GEOMETRIES)
def test_conv2d_gradients_equal_finite_differences(kernel_size, stride, padding):
    """``dL/dx``, ``dL/dK`` and ``dL/db`` of ``L = sum(G * conv2d(x, K, b))`` against central differences."""
    rng = np.random.default_rng(2)
    shape = (N_MEMBERS, 2, 2, 6, 7)
    x = rng.standard_normal(shape)
    kernels = rng.standard_normal((N_MEMBERS, 3, 2, *_pair(kernel_size)))
    bias = rng.standard_normal((N_MEMBERS, 3))
    g = rng.standard_normal(conv2d(x, kernels, bias, stride=stride, padding=padding).shape)

    def loss(x_, k_, b_):
        return np.sum(g * conv2d(x_, k_, b_, stride=stride, padding=padding))

    def central(array, f, eps=1e-6):
        grad = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            saved = array[index]
            array[index] = saved + eps
            up = f()
            array[index] = saved - eps
            down = f()
            array[index] = saved
            grad[index] = (up - down) / (2 * eps)
        return grad

    f = lambda: loss(x, kernels, bias)  # noqa: E731
    dx = conv2d_input_gradient(g, kernels, x.shape, stride=stride, padding=padding)
    dk, db = conv2d_weight_update(g, x, kernel_size, stride=stride, padding=padding)
    np.testing.assert_allclose(dx, central(x, f), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(dk, central(kernels, f), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(db, central(bias, f), rtol=1e-6, atol=1e-7)


def test_conv2d_input_gradient_leaves_uncovered_rows_at_zero_and_accepts_whole_shapes():
    rng = np.random.default_rng(3)
    kernels = rng.standard_normal((N_MEMBERS, 2, 1, 3, 3))
    delta = rng.standard_normal((N_MEMBERS, BATCH, 2, 3, 3))  # an 8x8 input, kernel 3, stride 2: row and column 7 in no patch
    dx = conv2d_input_gradient(delta, kernels, (8, 8), stride=2, padding=0)
    assert np.all(dx[..., 7, :] == 0) and np.all(dx[..., :, 7] == 0) and np.any(dx[..., 6, :] != 0)
    for shape in [(BATCH, 1, 8, 8), (N_MEMBERS, BATCH, 1, 8, 8)]:
        np.testing.assert_array_equal(conv2d_input_gradient(delta, kernels, shape, stride=2, padding=0), dx)
    out = np.full_like(dx, np.nan)
    assert conv2d_input_gradient(delta, kernels, (8, 8), stride=2, padding=0, out=out, workspace=Workspace()) is out
    np.testing.assert_array_equal(out, dx)


@pytest.mark.parametrize("delta_shape, kernels_shape, input_shape, message", [
    ((2, 2, 3, 5, 7), (2, 3, 1, 3, 3), (7, 8), "delta has output size 5x7, but a 7x8 input with kernel_size (3, 3), stride 1 and padding 0 gives 5x6"),
    ((2, 2, 3, 5, 7), (2, 4, 1, 3, 3), (7, 9), "kernels have 2 members and 4 output channels, delta 2 members and 3 output channels"),
    ((2, 2, 3, 5, 7), (2, 3, 1, 3, 3), (2, 2, 7, 9),
     "input_shape should be (height, width) or (2, 2, 1, height, width) or (2, 1, height, width), got (2, 2, 7, 9)"),
    ((2, 2, 3, 5), (2, 3, 1, 3, 3), (7, 9), "delta should have shape (n_members, batch, out_channels, out_h, out_w), got shape (2, 2, 3, 5)"),
])
def test_conv2d_input_gradient_names_the_bad_value(delta_shape, kernels_shape, input_shape, message):
    with pytest.raises(ValueError) as info:
        conv2d_input_gradient(np.zeros(delta_shape), np.zeros(kernels_shape), input_shape, stride=1, padding=0)
    assert str(info.value) == message


# ----------------------------------------------------------------------------- weight update
@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("kernel_size, stride, padding, in_channels, out_channels", _cases())
def test_conv2d_weight_update_matches_loop(kernel_size, stride, padding, in_channels, out_channels, shared):
    x, kernels, _ = _arrays(kernel_size, in_channels, out_channels, shared=shared)
    rng = np.random.default_rng(4)
    oh, ow = _out_size(HEIGHT, WIDTH, kernel_size, stride, padding)
    delta = rng.standard_normal((N_MEMBERS, BATCH, out_channels, oh, ow))
    coefficient = rng.standard_normal((N_MEMBERS, BATCH))
    dk, db = conv2d_weight_update(delta, x, kernel_size, stride=stride, padding=padding, coefficient=coefficient)
    expected_dk, expected_db = _naive_weight_update(delta, x, kernel_size, stride, padding, coefficient)
    assert dk.shape == kernels.shape and db.shape == (N_MEMBERS, out_channels)
    np.testing.assert_allclose(dk, expected_dk, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(db, expected_db, rtol=1e-12, atol=1e-12)
    dk1, db1 = conv2d_weight_update(delta, x, kernel_size, stride=stride, padding=padding)
    expected_dk1, expected_db1 = _naive_weight_update(delta, x, kernel_size, stride, padding, np.ones((N_MEMBERS, BATCH)))
    np.testing.assert_allclose(dk1, expected_dk1, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(db1, expected_db1, rtol=1e-12, atol=1e-12)


def test_conv2d_weight_update_broadcasts_the_coefficient_and_shares_a_broadcast_input():
    x, kernels, _ = _arrays(3, 2, 3, shared=True)
    rng = np.random.default_rng(5)
    delta = rng.standard_normal((N_MEMBERS, BATCH, 3, 4, 5))
    per_member = np.array([[0.5], [-2.0]])
    dk, db = conv2d_weight_update(delta, x, 3, stride=2, padding=1, coefficient=per_member, workspace=Workspace())
    dk_scaled, db_scaled = conv2d_weight_update(delta * per_member[:, :, None, None, None], x, 3, stride=2, padding=1)
    np.testing.assert_allclose(dk, dk_scaled, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(db, db_scaled, rtol=1e-12, atol=1e-12)
    dk_broadcast, _ = conv2d_weight_update(delta, np.broadcast_to(x, (N_MEMBERS, *x.shape)), 3, stride=2, padding=1, coefficient=per_member)
    np.testing.assert_array_equal(dk_broadcast, dk)
    with pytest.raises(ValueError) as info:
        conv2d_weight_update(delta, x, 3, stride=2, padding=1, coefficient=np.ones(3))
    assert str(info.value) == "coefficient should broadcast to (n_members, batch) = (2, 2), got shape (3,)"
    with pytest.raises(ValueError) as info:
        conv2d_weight_update(delta, x[:1], 3, stride=2, padding=1)
    assert str(info.value) == ("x should have shape (2, 2, channels, height, width) or (2, channels, height, width) "
                               "to match delta (2, 2, 3, 4, 5), got (1, 2, 7, 9)")
    with pytest.raises(ValueError) as info:
        conv2d_weight_update(delta, x, 3, stride=1, padding=1)
    assert str(info.value) == "delta has output size 4x5, but a 7x9 input with kernel_size 3, stride 1 and padding 1 gives 7x9"


# ----------------------------------------------------------------------------- blocks of samples
def test_sample_blocks_are_the_fewest_within_the_byte_budget_and_of_sizes_within_one():
    assert sample_blocks(10, 100, block_bytes=300) == [(0, 2), (2, 5), (5, 7), (7, 10)]  # 3 samples a block at most: 4 blocks
    assert sample_blocks(7, 10, block_bytes=1000) == [(0, 7)]
    assert sample_blocks(3, 5000, block_bytes=1000) == [(0, 1), (1, 2), (2, 3)]  # at least one sample a block
    for batch in range(1, 40):
        blocks = sample_blocks(batch, 7, block_bytes=30)
        sizes = [hi - lo for lo, hi in blocks]
        assert blocks[0][0] == 0 and blocks[-1][1] == batch and all(a[1] == b[0] for a, b in zip(blocks[:-1], blocks[1:], strict=True))
        assert max(sizes) <= 4 and max(sizes) - min(sizes) <= 1 and len(blocks) == -(-batch // 4)


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("kernel_size, stride, padding", [(3, 1, 1), (5, 2, 2), ((3, 5), (2, 1), (1, 2))])
def test_convolutions_in_blocks_of_samples_match_the_loops(kernel_size, stride, padding, shared, monkeypatch):
    """A byte budget below one sample's patches: every sample is a block of its own (5 GEMMs of each kind)."""
    rng = np.random.default_rng(11)
    batch = 5
    x = rng.standard_normal((batch, 2, HEIGHT, WIDTH) if shared else (N_MEMBERS, batch, 2, HEIGHT, WIDTH))
    kernels = rng.standard_normal((N_MEMBERS, 3, 2, *_pair(kernel_size)))
    oh, ow = _out_size(HEIGHT, WIDTH, kernel_size, stride, padding)
    delta = rng.standard_normal((N_MEMBERS, batch, 3, oh, ow))
    coefficient = rng.standard_normal((N_MEMBERS, batch))
    monkeypatch.setattr(convolution, "BLOCK_BYTES", 8)
    matmul, calls = np.matmul, []
    monkeypatch.setattr(np, "matmul", lambda *args, **kwargs: calls.append(1) or matmul(*args, **kwargs))
    for workspace in (None, Workspace()):
        calls.clear()
        h = conv2d(x, kernels, stride=stride, padding=padding, workspace=workspace)
        dx = conv2d_input_gradient(delta, kernels, (HEIGHT, WIDTH), stride=stride, padding=padding, workspace=workspace)
        dk, db = conv2d_weight_update(delta, x, kernel_size, stride=stride, padding=padding, coefficient=coefficient, workspace=workspace)
        assert len(calls) == 3 * batch
        np.testing.assert_allclose(h, _naive_conv(x, kernels, None, stride, padding), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(dx, _naive_transposed_conv(delta, kernels, HEIGHT, WIDTH, stride, padding), rtol=1e-12, atol=1e-12)
        expected_dk, expected_db = _naive_weight_update(delta, x, kernel_size, stride, padding, coefficient)
        np.testing.assert_allclose(dk, expected_dk, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(db, expected_db, rtol=1e-12, atol=1e-12)


def _bits(a):
    """``a`` as unsigned integers of its item size: equal only where every bit is (signed zeros told apart)."""
    a = np.ascontiguousarray(a)
    return a.view(f"u{a.dtype.itemsize}")


def _counting_patch_builds(monkeypatch):
    """A list that grows by one at every build of patches (the copy from the image into the patch matrix)."""
    build, calls = convolution._patches_into, []

    def counting(*args, **kwargs):
        calls.append(1)
        return build(*args, **kwargs)

    monkeypatch.setattr(convolution, "_patches_into", counting)
    return calls


# ----------------------------------------------------------------------------- patches kept between the pass and the update
@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("block_bytes, n_blocks", [(None, 1), (8, 5)])  # the whole batch in one block; a block per sample
def test_weight_update_reuses_the_first_block_of_patches_conv2d_left_in_the_workspace(block_bytes, n_blocks, shared, monkeypatch):
    rng = np.random.default_rng(12)
    batch = 5
    x = rng.standard_normal((batch, 2, HEIGHT, WIDTH) if shared else (N_MEMBERS, batch, 2, HEIGHT, WIDTH))
    kernels = rng.standard_normal((N_MEMBERS, 3, 2, 3, 3))
    delta = rng.standard_normal((N_MEMBERS, batch, 3, HEIGHT, WIDTH))
    coefficient = rng.standard_normal((N_MEMBERS, batch))
    if block_bytes is not None:
        monkeypatch.setattr(convolution, "BLOCK_BYTES", block_bytes)
    h = conv2d(x, kernels, stride=1, padding=1)
    dk, db = conv2d_weight_update(delta, x, 3, stride=1, padding=1, coefficient=coefficient)
    builds, workspace = _counting_patch_builds(monkeypatch), Workspace()
    for step in range(2):  # the second time, the pass starts with the last block, which the update kept: the same input
        builds.clear()
        h_kept = conv2d(x, kernels, stride=1, padding=1, workspace=workspace)
        assert len(builds) == n_blocks - step
        dk_kept, db_kept = conv2d_weight_update(delta, x, 3, stride=1, padding=1, coefficient=coefficient, workspace=workspace)
        assert len(builds) == 2 * n_blocks - 1 - step  # the update built all but the first block
        np.testing.assert_array_equal(_bits(h_kept), _bits(h))
        np.testing.assert_array_equal(_bits(dk_kept), _bits(dk))
        np.testing.assert_array_equal(_bits(db_kept), _bits(db))


def test_patches_kept_in_a_workspace_are_built_again_for_another_input_or_geometry(monkeypatch):
    rng = np.random.default_rng(13)
    x = rng.standard_normal((3, 2, 6, 6))  # square: kernels 2x3 and 3x2 make patch matrices of one shape
    kernels = rng.standard_normal((1, 4, 2, 2, 3))
    delta = rng.standard_normal((1, 3, 4, 5, 4))
    builds, workspace = _counting_patch_builds(monkeypatch), Workspace()

    conv2d(x, kernels, stride=1, padding=0, workspace=workspace)
    stale = conv2d_weight_update(delta, x, (2, 3), stride=1, padding=0)[0]
    x[1, 0, 2, 3] += 1.0  # the same array, changed in place
    builds.clear()
    dk = conv2d_weight_update(delta, x, (2, 3), stride=1, padding=0, workspace=workspace)[0]
    assert len(builds) == 1
    np.testing.assert_array_equal(dk, conv2d_weight_update(delta, x, (2, 3), stride=1, padding=0)[0])
    assert not np.array_equal(dk, stale)

    x[0, 1, 0, 0] = 0.0
    conv2d(x, kernels, stride=1, padding=0, workspace=workspace)
    x[0, 1, 0, 0] = -0.0  # equal as numbers, not bit for bit: built again
    builds.clear()
    conv2d_weight_update(delta, x, (2, 3), stride=1, padding=0, workspace=workspace)
    assert len(builds) == 1

    conv2d(x, kernels, stride=1, padding=0, workspace=workspace)
    builds.clear()
    dk = conv2d_weight_update(delta.swapaxes(-1, -2), x, (3, 2), stride=1, padding=0, workspace=workspace)[0]  # 3x2: other patches
    assert len(builds) == 1
    np.testing.assert_array_equal(dk, conv2d_weight_update(delta.swapaxes(-1, -2), x, (3, 2), stride=1, padding=0)[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("pool, size", [(2, (7, 9)), (3, (7, 9)), (2, (8, 6)), (1, (5, 5))])  # rows/columns left out, or none
def test_weight_update_through_average_pooling_is_that_of_the_spread_delta_bit_for_bit(pool, size, dtype):
    rng = np.random.default_rng(14)
    height, width = size
    x = rng.standard_normal((N_MEMBERS, 3, 2, height, width)).astype(dtype)
    pooled = rng.standard_normal((N_MEMBERS, 3, 4, height // pool, width // pool)).astype(dtype)
    pooled[0, 1] = 0.0
    coefficient = rng.standard_normal((N_MEMBERS, 3)).astype(dtype)
    coefficient[1, 2] = -0.0  # zeros of both signs in the factors: the bits of every zero are compared
    for c in (None, coefficient):
        expected = conv2d_weight_update(avg_pool2d_backward(pooled, (height, width), pool), x, 3, stride=1, padding=1, coefficient=c)
        got = conv2d_weight_update(pooled, x, 3, stride=1, padding=1, coefficient=c, pool=pool, workspace=Workspace())
        for a, b in zip(got, expected, strict=True):
            assert a.dtype == b.dtype == dtype
            np.testing.assert_array_equal(_bits(a), _bits(b))


def test_weight_update_through_average_pooling_names_a_bad_pool_or_delta():
    x, delta = np.zeros((2, 1, 7, 9)), np.zeros((1, 2, 3, 3, 4))
    with pytest.raises(ValueError) as info:
        conv2d_weight_update(delta, x, 3, stride=1, padding=1, pool=3)
    assert str(info.value) == ("delta has output size 3x4, but a 7x9 input with kernel_size 3, stride 1 and padding 1 gives 7x9, "
                               "pooled 3x3: 2x3")
    with pytest.raises(ValueError) as info:
        conv2d_weight_update(delta, x, 3, stride=1, padding=1, pool=0)
    assert str(info.value) == "pool should be an integer >= 1, got 0"
    assert conv2d_weight_update(delta, x, 3, stride=1, padding=1, pool=2)[0].shape == (1, 3, 1, 3, 3)


# ----------------------------------------------------------------------------- pooling
#: overlapping windows, and windows side by side (stride = kernel, the default) that tile the image exactly or leave
#: rows and columns out, square and rectangular
POOLS = [(2, None), (3, 1), (3, 2), ((2, 3), (1, 2)), (1, None), (3, None), ((2, 3), None), ((2, 1), None)]
POOL_SHAPE = (2, 2, 2, 7, 9)


def _windows(shape, kernel_size, stride):
    """Every window as (leading index, output position, rows, columns)."""
    (kh, kw) = _pair(kernel_size)
    (sh, sw) = _pair(kernel_size if stride is None else stride)
    oh, ow = (shape[-2] - kh) // sh + 1, (shape[-1] - kw) // sw + 1
    for lead in np.ndindex(shape[:-2]):
        for p in range(oh):
            for q in range(ow):
                yield lead, (p, q), slice(p * sh, p * sh + kh), slice(q * sw, q * sw + kw)


def _pool_output_shape(shape, kernel_size, stride):
    (kh, kw) = _pair(kernel_size)
    (sh, sw) = _pair(kernel_size if stride is None else stride)
    return (*shape[:-2], (shape[-2] - kh) // sh + 1, (shape[-1] - kw) // sw + 1)


def _distinct(shape, seed):
    """Values at least 0.1 apart (no ties, and finite differences of 1e-4 keep every maximum where it is)."""
    return np.random.default_rng(seed).permutation(np.prod(shape)).reshape(shape) * 0.1


def _central(x, f, eps=1e-4):
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        saved = x[index]
        x[index] = saved + eps
        up = f()
        x[index] = saved - eps
        down = f()
        x[index] = saved
        grad[index] = (up - down) / (2 * eps)
    return grad


@pytest.mark.parametrize("kernel_size, stride", POOLS)
def test_pooling_forward_matches_loop(kernel_size, stride):
    x = np.random.default_rng(6).standard_normal(POOL_SHAPE)
    expected_avg = np.zeros(_pool_output_shape(x.shape, kernel_size, stride))
    expected_max = np.zeros_like(expected_avg)
    for lead, position, rows, columns in _windows(x.shape, kernel_size, stride):
        expected_avg[(*lead, *position)] = np.mean(x[(*lead, rows, columns)])
        expected_max[(*lead, *position)] = np.max(x[(*lead, rows, columns)])
    np.testing.assert_allclose(avg_pool2d(x, kernel_size, stride=stride), expected_avg, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(max_pool2d(x, kernel_size, stride=stride), expected_max)


@pytest.mark.parametrize("kernel_size, stride", POOLS)
def test_pooling_backward_matches_loop_and_finite_differences(kernel_size, stride):
    x = _distinct(POOL_SHAPE, 7)
    grad = np.random.default_rng(8).standard_normal(_pool_output_shape(x.shape, kernel_size, stride))
    kh, kw = _pair(kernel_size)
    expected_avg, expected_max = np.zeros(x.shape), np.zeros(x.shape)
    for lead, position, rows, columns in _windows(x.shape, kernel_size, stride):
        g = grad[(*lead, *position)]
        expected_avg[(*lead, rows, columns)] += g / (kh * kw)
        best = None
        for i in range(rows.start, rows.stop):  # first maximum in row-major order
            for j in range(columns.start, columns.stop):
                if best is None or x[(*lead, i, j)] > x[(*lead, *best)]:
                    best = (i, j)
        expected_max[(*lead, *best)] += g
    d_avg = avg_pool2d_backward(grad, x.shape, kernel_size, stride=stride)
    d_max = max_pool2d_backward(grad, x, kernel_size, stride=stride)
    np.testing.assert_allclose(d_avg, expected_avg, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(d_max, expected_max, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(avg_pool2d_backward(grad, x.shape[-2:], kernel_size, stride=stride), d_avg)
    small = np.ascontiguousarray(x[:1, :1])  # finite differences on one member, sample and two channels
    small_grad = np.ascontiguousarray(grad[:1, :1])
    np.testing.assert_allclose(avg_pool2d_backward(small_grad, small.shape, kernel_size, stride=stride),
                               _central(small, lambda: np.sum(small_grad * avg_pool2d(small, kernel_size, stride=stride))),
                               rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(max_pool2d_backward(small_grad, small, kernel_size, stride=stride),
                               _central(small, lambda: np.sum(small_grad * max_pool2d(small, kernel_size, stride=stride))),
                               rtol=1e-6, atol=1e-8)


def test_max_pool_routes_ties_to_the_first_index():
    x = np.array([[1.0, 3.0, 3.0, 0.0],
                  [3.0, 3.0, 0.0, 2.0],
                  [5.0, 5.0, 4.0, 4.0],
                  [5.0, 5.0, 4.0, 4.0]])
    np.testing.assert_array_equal(max_pool2d(x, 2), [[3.0, 3.0], [5.0, 4.0]])
    dx = max_pool2d_backward(np.array([[1.0, 2.0], [3.0, 4.0]]), x, 2)
    np.testing.assert_array_equal(dx, [[0.0, 1.0, 2.0, 0.0],
                                       [0.0, 0.0, 0.0, 0.0],
                                       [3.0, 0.0, 4.0, 0.0],
                                       [0.0, 0.0, 0.0, 0.0]])
    # overlapping windows (stride 1) that share their maximum add its gradients
    np.testing.assert_array_equal(max_pool2d_backward(np.ones((1, 2)), np.array([[0.0, 9.0, 1.0]]), (1, 2), stride=1), [[0.0, 2.0, 0.0]])


def test_pooling_keeps_float32_and_names_the_bad_value():
    x = np.ones((2, 3, 6, 6), dtype=np.float32)
    assert avg_pool2d(x, 2).dtype == np.float32 and max_pool2d(x, 2).dtype == np.float32
    assert avg_pool2d_backward(np.ones((2, 3, 3, 3), dtype=np.float32), x.shape, 2).dtype == np.float32
    assert max_pool2d_backward(np.ones((2, 3, 3, 3), dtype=np.float32), x, 2).dtype == np.float32
    with pytest.raises(ValueError) as info:
        max_pool2d(x, 7)
    assert str(info.value) == "kernel_size 7 (7x7) is larger than the padded image (6x6: 6x6 with padding 0)"
    with pytest.raises(ValueError) as info:
        max_pool2d_backward(np.ones((2, 3, 2, 3)), x, 2)
    assert str(info.value) == "grad should have shape (2, 3, 3, 3) (the pooled output), got (2, 3, 2, 3)"
    with pytest.raises(ValueError) as info:
        avg_pool2d_backward(np.ones((2, 3, 3, 3)), (3, 6, 6), 2)
    assert str(info.value) == "input_shape should be (height, width) or (2, 3, height, width), got (3, 6, 6)"
    with pytest.raises(ValueError) as info:
        avg_pool2d(np.ones(5), 2)
    assert str(info.value) == "x should have shape (..., height, width), got shape (5,)"
