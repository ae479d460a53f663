"""Convolutional populations with the ensemble axis: im2col + GEMM, its transposes, and pooling.

Feature maps have shape ``(n_members, batch, channels, height, width)``, or
``(batch, channels, height, width)`` when all members share them (the
stimulus); kernels ``(n_members, out_channels, in_channels, kh, kw)``; biases
``(n_members, out_channels)``. ``stride`` and ``padding`` are an integer or a
pair ``(along height, along width)``; padding adds zeros on both sides. The
output size is ``(height + 2 padding - kh) // stride + 1`` (rows and columns
that a last, incomplete step would need are left out).

A convolution is one matrix product per member between the kernels, flattened
to ``(out_channels, in_channels kh kw)``, and the patches of the input
(:func:`im2col`), ``(batch out_h out_w, in_channels kh kw)``; when all members
share the input, the stacked kernels of every member make it a single GEMM.
No per-sample or per-position Python loop is run anywhere: the scatter of the
transposed operations and the pooling loop over the ``kh kw`` kernel offsets
only, each offset one vectorised pass over all members, samples and positions.

The three convolution kernels take the batch in blocks of samples
(:func:`sample_blocks`) whose patches (or columns, for the transposed
convolution) fill at most :data:`BLOCK_BYTES`: one GEMM per block, on
patches that are still in cache, and no call allocates (and faults in) an
array of the whole batch's patches. The kernel changes add the blocks' GEMMs
in turn; results do not depend on the blocks beyond rounding.

With a workspace, the patches of the last block built stay in it, and
:func:`conv2d_weight_update` does not build again the patches that
:func:`conv2d` built last from the same input (checked bit for bit):
:func:`conv2d` takes its blocks last to first and the update first to
last, so when the batch is one block the update after a forward pass
builds no patches, and otherwise one block fewer. Only one block's patches
are ever kept: keeping the whole batch's would take the memory the blocks
save.
"""

from __future__ import annotations

import numbers

import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view

from .workspace import scratch, shared_member

__all__ = [
    "BLOCK_BYTES",
    "avg_pool2d",
    "avg_pool2d_backward",
    "conv2d",
    "conv2d_input_gradient",
    "conv2d_weight_update",
    "conv_output_shape",
    "im2col",
    "max_pool2d",
    "max_pool2d_backward",
    "sample_blocks",
]

#: Bytes of patches (or columns) that a convolution builds for one GEMM: the batch is
#: taken in blocks of samples of at most this size (at least one sample a block).
BLOCK_BYTES = 2**23


# ----------------------------------------------------------------------------- geometry
def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _pair(value, name, minimum):
    """``value`` (an integer or a pair of integers) as a pair of ints, each at least ``minimum``."""
    if _is_int(value):
        pair = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(_is_int(v) for v in value):
        pair = (int(value[0]), int(value[1]))
    else:
        raise TypeError(f"{name} should be an integer or a pair of integers (along height, along width), got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"{name} should be at least {minimum}, got {value!r}")
    return pair


def _geometry(height, width, kernel_size, stride, padding):
    """Kernel, stride and padding as pairs and the output size; see :func:`conv_output_shape`."""
    for value, name in ((height, "height"), (width, "width")):
        if not _is_int(value):
            raise TypeError(f"{name} should be an integer >= 1, got {value!r}")
        if value < 1:
            raise ValueError(f"{name} should be at least 1, got {value!r}")
    kernel = _pair(kernel_size, "kernel_size", 1)
    stride_ = _pair(stride, "stride", 1)
    padding_ = _pair(padding, "padding", 0)
    padded = (int(height) + 2 * padding_[0], int(width) + 2 * padding_[1])
    if kernel[0] > padded[0] or kernel[1] > padded[1]:
        raise ValueError(f"kernel_size {kernel_size!r} ({kernel[0]}x{kernel[1]}) is larger than the padded image "
                         f"({padded[0]}x{padded[1]}: {height}x{width} with padding {padding!r})")
    output = ((padded[0] - kernel[0]) // stride_[0] + 1, (padded[1] - kernel[1]) // stride_[1] + 1)
    return kernel, stride_, padding_, output


def conv_output_shape(height, width, kernel_size, stride, padding):
    """Height and width of the output of a convolution (or pooling) over a ``height x width`` image.

    Parameters
    ----------
    height, width : int
        Size of the input image, at least 1.
    kernel_size : int or (int, int)
        ``kh`` and ``kw``, at least 1; they must fit in the padded image.
    stride : int or (int, int)
        Step between neighbouring positions, at least 1.
    padding : int or (int, int)
        Zeros added on both sides along height and along width, at least 0.

    Returns
    -------
    (int, int)
        ``out_h = (height + 2 ph - kh) // sh + 1`` and
        ``out_w = (width + 2 pw - kw) // sw + 1``.

    Raises
    ------
    TypeError
        Where a size is not an integer (or a pair of integers).
    ValueError
        Where a size is out of range, or the kernel is larger than the padded image.
    """
    return _geometry(height, width, kernel_size, stride, padding)[3]


def _offset_slices(i, j, stride, output):
    """The rows and columns of the (padded) image that kernel offset ``(i, j)`` meets at all output positions."""
    return (slice(i, i + stride[0] * (output[0] - 1) + 1, stride[0]),
            slice(j, j + stride[1] * (output[1] - 1) + 1, stride[1]))


def _scratch(workspace, tag, shape, dtype):
    # the shape is part of the name: layers of other sizes get arrays of their own rather than
    # reallocating one array back and forth
    shape = tuple(int(s) for s in shape)
    return scratch(workspace, (tag, shape), shape, dtype)


def _check_feature_maps(x, name):
    if x.ndim not in (4, 5):
        raise ValueError(f"{name} should have shape (batch, channels, height, width) or "
                         f"(n_members, batch, channels, height, width), got shape {x.shape}")


def _check_kernels(kernels, name="kernels"):
    if kernels.ndim != 5:
        raise ValueError(f"{name} should have shape (n_members, out_channels, in_channels, kh, kw), got shape {kernels.shape}")
    return kernels.shape


def _check_delta(delta):
    if delta.ndim != 5:
        raise ValueError(f"delta should have shape (n_members, batch, out_channels, out_h, out_w), got shape {delta.shape}")
    return delta.shape


def _check_output_size(delta_shape, geometry, height, width, kernel_size, stride, padding):
    if tuple(delta_shape[-2:]) != geometry[3]:
        raise ValueError(f"delta has output size {delta_shape[-2]}x{delta_shape[-1]}, but a {height}x{width} input with "
                         f"kernel_size {kernel_size!r}, stride {stride!r} and padding {padding!r} gives "
                         f"{geometry[3][0]}x{geometry[3][1]}")


def _input_size(input_shape, leading, name="input_shape"):
    """``(height, width)`` from ``input_shape``: the pair itself, or a whole shape whose leading entries are one of ``leading``."""
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = ()
    if not all(_is_int(s) for s in shape) or not (len(shape) == 2 or (len(shape) > 2 and shape[:-2] in leading)):
        expected = " or ".join("(" + ", ".join([*map(str, lead), "height", "width"]) + ")" for lead in leading)
        raise ValueError(f"{name} should be (height, width) or {expected}, got {input_shape!r}")
    return int(shape[-2]), int(shape[-1])


# ----------------------------------------------------------------------------- patches
def sample_blocks(batch, bytes_per_sample, *, block_bytes=None):
    """The blocks of samples a convolution takes the batch in: ``[(lo, hi), ...]``.

    The fewest blocks of consecutive samples whose patches fill at most
    ``block_bytes`` (at least one sample a block), of sizes within one of
    each other: ``n = ceil(batch / max(1, block_bytes // bytes_per_sample))``
    blocks with bounds ``j * batch // n``.

    Parameters
    ----------
    batch : int
        Samples, at least 1.
    bytes_per_sample : int
        Bytes of one sample's patches (or columns), over all members that
        the GEMM multiplies at once.
    block_bytes : int, optional
        By default :data:`BLOCK_BYTES`.

    Returns
    -------
    list of (int, int)
    """
    block_bytes = BLOCK_BYTES if block_bytes is None else block_bytes
    per_block = max(1, int(block_bytes) // max(1, int(bytes_per_sample)))
    n_blocks = -(-int(batch) // per_block)
    bounds = [j * int(batch) // n_blocks for j in range(n_blocks + 1)]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def _patches_into(x, geometry, out, workspace):
    """Write the patches of ``x`` into ``out`` of shape ``(..., batch * out_h * out_w, in_channels * kh * kw)``.

    ``out`` is C-contiguous or the transpose (last two axes) of a C-contiguous
    ``(..., in_channels * kh * kw, batch * out_h * out_w)`` array; the latter
    copies whole image rows and is the faster to fill.

    Into the latter, with a horizontal stride of 1, each run of ``out_w``
    consecutive values (one output row of one kernel offset) is copied as
    one item of ``out_w`` values' bytes: one copy of as many items as the
    patches have rows of ``out_w``, instead of a loop of ``out_w`` values
    per row.
    """
    (kh, kw), stride, (ph, pw), (oh, ow) = geometry
    *lead, batch, channels, height, width = x.shape
    lead = tuple(lead)
    if ph or pw:
        padded = _scratch(workspace, "conv_padded", (*lead, batch, channels, height + 2 * ph, width + 2 * pw), out.dtype)
        padded[...] = 0  # one contiguous pass: faster than the four strided pieces of the border alone
        padded[..., ph:ph + height, pw:pw + width] = x
        x = padded
    n = len(lead)
    transposed = out.swapaxes(-1, -2)
    if transposed.flags.c_contiguous and stride[1] == 1 and x.dtype == out.dtype and x.strides[-1] == x.itemsize:
        # the runs as items: (..., channels, kh, kw, batch, out_h) of out_w values' bytes each, read in place
        run = np.dtype((np.void, ow * x.itemsize))
        s = x.strides
        source = as_strided(x.view(np.uint8), (*lead, channels, kh, kw, batch, oh, ow * x.itemsize),
                            (*s[:n], s[-3], s[-2], s[-1], s[-4], s[-2] * stride[0], 1), writeable=False)
        target = transposed.reshape(*lead, channels, kh, kw, batch, oh, ow)
        np.copyto(target.view(run)[..., 0], source.view(run)[..., 0])
        return out
    # (..., batch, channels, out_h, out_w, kh, kw): a strided view, no copy
    windows = sliding_window_view(x, (kh, kw), axis=(-2, -1))[..., ::stride[0], ::stride[1], :, :][..., :oh, :ow, :, :]
    b, c, y, z, i, j = range(n, n + 6)
    if transposed.flags.c_contiguous:
        target = transposed.reshape(*lead, channels, kh, kw, batch, oh, ow)
        np.copyto(target, windows.transpose(*range(n), c, i, j, b, y, z))
    elif out.flags.c_contiguous:
        target = out.reshape(*lead, batch, oh, ow, channels, kh, kw)
        np.copyto(target, windows.transpose(*range(n), b, y, z, c, i, j))
    else:
        raise ValueError("out should be C-contiguous or the transpose (of its last two axes) of a C-contiguous array")
    return out


def _same_bits(a, b):
    """Whether ``a`` and ``b`` (one shape and dtype) hold the same bits (NaNs and signed zeros included)."""
    if a.shape != b.shape or a.dtype != b.dtype or a.dtype.itemsize not in (1, 2, 4, 8):
        return False
    unsigned = np.dtype(f"u{a.dtype.itemsize}")
    return bool(np.array_equal(a.view(unsigned), b.view(unsigned)))


def _patches(x, geometry, dtype, workspace, *, reuse=False, keep=False):
    """The patches of ``x`` in the fast layout, from ``workspace`` where there is one.

    With a workspace, the array the patches are written into is shared by
    every call that builds patches of its shape. A call with ``keep``
    records what it built (the geometry and a copy of ``x``, a ``kh kw``-th
    of the patches' size for a stride of 1); any other build into the
    array forgets the record. A call with ``reuse`` returns the array
    without building where the record shows it holds the patches of the
    same geometry and of an ``x`` equal bit for bit to the recorded copy:
    the very values a build would write.
    """
    (kh, kw), _, _, (oh, ow) = geometry
    *lead, batch, channels, _, _ = x.shape
    shape = (*lead, channels * kh * kw, batch * oh * ow)
    store = _scratch(workspace, "conv_patches", shape, dtype)
    if workspace is None:
        return _patches_into(x, geometry, store.swapaxes(-1, -2), None)
    # of the array: what it holds (np.empty of objects is None until a call keeps a record), and the copy of x kept
    record = scratch(workspace, ("conv_patches_record", shape), (), object)
    tag = (geometry, np.dtype(dtype))
    if reuse and record[()] is not None and record[()][0] == tag and _same_bits(record[()][1], x):
        return store.swapaxes(-1, -2)
    record[()] = None
    _patches_into(x, geometry, store.swapaxes(-1, -2), workspace)
    if keep:
        source = scratch(workspace, ("conv_patches_source", shape, x.shape), x.shape, x.dtype)
        np.copyto(source, x)
        record[()] = (tag, source)
    return store.swapaxes(-1, -2)


def im2col(x, kernel_size, stride, padding, *, out=None):
    """The patches a kernel meets, as the rows of a matrix.

    Row ``(b, p, q)`` (sample ``b``, output position ``(p, q)``, in this
    order) holds the ``in_channels x kh x kw`` values of the zero-padded input
    under the kernel placed at rows ``p sh .. p sh + kh - 1`` and columns
    ``q sw .. q sw + kw - 1``, flattened as the kernels are
    (``kernels.reshape(n_members, out_channels, -1)``): a convolution is the
    product of this matrix with the flattened kernels.

    Parameters
    ----------
    x : ndarray of shape (batch, in_channels, height, width) or (n_members, batch, in_channels, height, width)
    kernel_size : int or (int, int)
    stride : int or (int, int)
    padding : int or (int, int)
    out : ndarray of shape (..., batch * out_h * out_w, in_channels * kh * kw), optional
        C-contiguous, or the transpose (of its last two axes) of a C-contiguous
        ``(..., in_channels * kh * kw, batch * out_h * out_w)`` array, the
        layout returned without ``out``.

    Returns
    -------
    ndarray of shape (batch * out_h * out_w, in_channels * kh * kw) or (n_members, batch * out_h * out_w, in_channels * kh * kw)
        Each member's matrix is stored column by column (it is the transpose
        of a C-contiguous array): filling that layout copies whole image rows
        and is several times faster than the row-major one, and
        :func:`numpy.matmul` hands either to BLAS without a copy.

    Notes
    -----
    The patches are copied from a strided view of the padded input
    (:func:`numpy.lib.stride_tricks.sliding_window_view`) in one pass; no
    Python loop runs over positions.
    """
    x = np.asarray(x)
    _check_feature_maps(x, "x")
    geometry = _geometry(x.shape[-2], x.shape[-1], kernel_size, stride, padding)
    (kh, kw), _, _, (oh, ow) = geometry
    *lead, batch, channels, _, _ = x.shape
    shape = (*lead, batch * oh * ow, channels * kh * kw)
    if out is None:
        out = np.empty((*lead, channels * kh * kw, batch * oh * ow), dtype=x.dtype).swapaxes(-1, -2)
    elif out.shape != shape:
        raise ValueError(f"out should have shape {shape}, got {out.shape}")
    return _patches_into(x, geometry, out, None)


# ----------------------------------------------------------------------------- convolution
def conv2d(x, kernels, bias=None, *, stride=1, padding=0, workspace=None, out=None):
    """Summed input ``h = kernels * x + bias`` of a convolutional population, every member.

    ``h[e, b, o, p, q] = bias[e, o] + sum_{c, i, j} kernels[e, o, c, i, j] x_pad[e, b, c, p sh + i, q sw + j]``
    (a cross-correlation, as in the deep-learning libraries).

    Parameters
    ----------
    x : ndarray of shape (batch, in_channels, height, width) or (n_members, batch, in_channels, height, width)
        A 4-D ``x`` (or a broadcast view of one) is shared by all members:
        its patches are built once and multiplied by every member's kernels
        in one GEMM, ``(n_members out_channels, in_channels kh kw) x
        (in_channels kh kw, batch out_h out_w)``; otherwise one GEMM per
        member. Either is made once per block of samples
        (:func:`sample_blocks`), on that block's patches.
    kernels : ndarray of shape (n_members, out_channels, in_channels, kh, kw)
    bias : ndarray of shape (n_members, out_channels), optional
    stride : int or (int, int), default 1
    padding : int or (int, int), default 0
    workspace : Workspace, optional
        Where the padded input, the patches and the GEMM's result are kept
        between calls (under names that include their shapes). The blocks
        are taken last to first, so that the first block's patches are
        left there, with a copy of its input, for
        :func:`conv2d_weight_update`.
    out : ndarray of shape (n_members, batch, out_channels, out_h, out_w), optional
        Where to write the result.

    Returns
    -------
    ndarray of shape (n_members, batch, out_channels, out_h, out_w)
        Of dtype ``numpy.result_type(x, kernels, bias)``.
    """
    x, kernels = np.asarray(x), np.asarray(kernels)
    _check_feature_maps(x, "x")
    n_members, out_channels, in_channels, kh, kw = _check_kernels(kernels)
    if x.ndim == 5 and x.shape[0] != n_members:
        raise ValueError(f"x has {x.shape[0]} members, kernels {n_members}")
    if x.shape[-3] != in_channels:
        raise ValueError(f"x has {x.shape[-3]} channels, but the kernels expect in_channels = {in_channels}")
    if bias is not None:
        bias = np.asarray(bias)
        if bias.shape != (n_members, out_channels):
            raise ValueError(f"bias should have shape (n_members, out_channels) = {(n_members, out_channels)}, got {bias.shape}")
    geometry = _geometry(x.shape[-2], x.shape[-1], (kh, kw), stride, padding)
    oh, ow = geometry[3]
    if x.ndim == 5 and shared_member(x) is not None:  # a broadcast view of one input: treated as shared
        x = shared_member(x)
    batch = x.shape[-4]
    n_cols, n_rows = in_channels * kh * kw, batch * oh * ow
    dtype = np.result_type(x, kernels) if bias is None else np.result_type(x, kernels, bias)
    positions = oh * ow
    if x.ndim == 4:  # all members' kernels stacked: one GEMM for the ensemble (a block)
        flat = kernels.reshape(n_members * out_channels, n_cols)
        h = _scratch(workspace, "conv_h", (n_members * out_channels, n_rows), dtype)
    else:
        flat = kernels.reshape(n_members, out_channels, n_cols)
        h = _scratch(workspace, "conv_h", (n_members, out_channels, n_rows), dtype)
    copies = 1 if x.ndim == 4 else n_members
    # the blocks last to first: the first block's patches, built last, stay in the workspace, where
    # conv2d_weight_update, which starts with them, finds them
    blocks = sample_blocks(batch, copies * n_cols * positions * np.dtype(dtype).itemsize)
    for lo, hi in reversed(blocks):
        patches = _patches(x[..., lo:hi, :, :, :], geometry, dtype, workspace, reuse=hi == batch, keep=lo == 0)
        np.matmul(flat, patches.swapaxes(-1, -2), out=h[..., lo * positions:hi * positions])  # (..., n_cols, rows), C-contiguous
    h = h.reshape(n_members, out_channels, batch, oh, ow).transpose(0, 2, 1, 3, 4)  # a view; the copy below reads whole rows
    shape = (n_members, batch, out_channels, oh, ow)
    if out is None:
        out = np.empty(shape, dtype=dtype)
    elif out.shape != shape:
        raise ValueError(f"out should have shape (n_members, batch, out_channels, out_h, out_w) = {shape}, got {out.shape}")
    if bias is None:
        np.copyto(out, h)
    else:
        np.add(h, bias[:, None, :, None, None], out=out)
    return out


def _members_first_delta(delta, dtype, workspace, coefficient=None):
    """``delta`` as ``(n_members, out_channels, batch, out_h, out_w)`` (times ``coefficient`` per sample), C-contiguous."""
    n_members, batch, out_channels, oh, ow = delta.shape
    delta_t = _scratch(workspace, "conv_delta_t", (n_members, out_channels, batch, oh, ow), dtype)
    if coefficient is None:
        np.copyto(delta_t, delta.transpose(0, 2, 1, 3, 4))
    else:
        np.multiply(delta.transpose(0, 2, 1, 3, 4), coefficient[:, None, :, None, None], out=delta_t)
    return delta_t


def _members_first_spread(share, pool, conv_size, dtype, workspace, coefficient=None):
    """:func:`_members_first_delta` of the average pooling's spread of ``share`` (the windows' shares), without the spread array.

    ``share`` has shape ``(n_members, batch, out_channels, out_h // pool,
    out_w // pool)``; entry ``(y, z)`` of the result is ``share`` at ``(y //
    pool, z // pool)`` (times ``coefficient``), and ``0`` (times
    ``coefficient``) in rows and columns no window covers, the same bits as
    :func:`avg_pool2d_backward` followed by :func:`_members_first_delta`.
    """
    n_members, batch, out_channels, rows, columns = share.shape
    oh, ow = conv_size
    delta_t = _scratch(workspace, "conv_delta_t", (n_members, out_channels, batch, oh, ow), dtype)
    values = share.transpose(0, 2, 1, 3, 4)
    covered = (rows * pool, columns * pool)
    if coefficient is not None:
        factor = coefficient[:, None, :, None, None]
        values = np.multiply(values, factor, out=_scratch(workspace, "conv_share_t", values.shape, dtype))
        for region in (delta_t[..., covered[0]:, :], delta_t[..., :covered[0], covered[1]:]):
            np.multiply(np.zeros((), dtype=share.dtype), factor, out=region)
    else:
        delta_t[..., covered[0]:, :] = 0
        delta_t[..., :covered[0], covered[1]:] = 0
    for i in range(pool):
        for j in range(pool):
            delta_t[..., i:covered[0]:pool, j:covered[1]:pool] = values
    return delta_t


def conv2d_input_gradient(delta, kernels, input_shape, *, stride, padding, workspace=None, out=None):
    """The transposed convolution: ``dL/dh`` of the output carried back to ``dL/dx`` of the input.

    ``dx[e, b, c, y, z] = sum_{o, p, q, i, j : p sh + i - ph = y, q sw + j - pw = z} kernels[e, o, c, i, j] delta[e, b, o, p, q]``,
    the adjoint of :func:`conv2d` with respect to its input. ``kernels`` may
    be the forward kernels (backpropagation) or any other array of their
    shape, such as a feedback kernel ``B`` of the feedback-alignment family,
    whose errors travel by the transposed convolution with ``B``.

    Parameters
    ----------
    delta : ndarray of shape (n_members, batch, out_channels, out_h, out_w)
        ``dL/dh`` of the convolution's output.
    kernels : ndarray of shape (n_members, out_channels, in_channels, kh, kw)
        The forward kernels or a feedback kernel of the same shape.
    input_shape : tuple of int
        ``(height, width)`` of the input, or its whole shape,
        ``(batch, in_channels, height, width)`` or
        ``(n_members, batch, in_channels, height, width)`` (the other entries
        are checked). Needed because a stride can leave the last rows and
        columns of the input out of every patch (their gradient is zero).
    stride : int or (int, int)
    padding : int or (int, int)
    workspace : Workspace, optional
    out : ndarray of shape (n_members, batch, in_channels, height, width), optional

    Returns
    -------
    ndarray of shape (n_members, batch, in_channels, height, width)

    Notes
    -----
    One GEMM per member and block of samples (:func:`sample_blocks`),
    ``(in_channels kh kw, out_channels) x (out_channels, block out_h out_w)``,
    gives every patch's share; col2im then adds the block's patches back onto
    the (padded) image with one vectorised add per kernel offset ``(i, j)``
    into an image ``out_w`` wide (whole rows), and one strided add per kernel
    column ``j`` (``kh kw + kw`` passes a block, none per position or sample).
    """
    delta, kernels = np.asarray(delta), np.asarray(kernels)
    n_members, batch, out_channels, oh, ow = _check_delta(delta)
    kernel_members, kernel_out, in_channels, kh, kw = _check_kernels(kernels)
    if (kernel_members, kernel_out) != (n_members, out_channels):
        raise ValueError(f"kernels have {kernel_members} members and {kernel_out} output channels, "
                         f"delta {n_members} members and {out_channels} output channels")
    height, width = _input_size(input_shape, [(n_members, batch, in_channels), (batch, in_channels)])
    geometry = _geometry(height, width, (kh, kw), stride, padding)
    _check_output_size(delta.shape, geometry, height, width, (kh, kw), stride, padding)
    _, stride_, (ph, pw), output = geometry
    dtype = np.result_type(delta, kernels)
    n_cols, positions = in_channels * kh * kw, oh * ow
    delta_t = _members_first_delta(delta, dtype, workspace).reshape(n_members, out_channels, batch * positions)
    kernels_t = kernels.reshape(n_members, out_channels, n_cols).transpose(0, 2, 1)  # a transposed view: BLAS reads it in place
    shape = (n_members, batch, in_channels, height, width)
    if out is None:
        out = np.empty(shape, dtype=dtype)
    elif out.shape != shape:
        raise ValueError(f"out should have shape (n_members, batch, in_channels, height, width) = {shape}, got {out.shape}")
    # accumulated in the (member, channel, sample) order of the GEMM's result, so that every add
    # reads and writes whole rows; one transposing copy at the end
    padded = (height + 2 * ph, width + 2 * pw)
    image = _scratch(workspace, "conv_image", (n_members, in_channels, batch, *padded), dtype)
    image[...] = 0
    for lo, hi in sample_blocks(batch, n_members * n_cols * positions * np.dtype(dtype).itemsize):
        cols = _scratch(workspace, "conv_cols", (n_members, n_cols, (hi - lo) * positions), dtype)
        np.matmul(kernels_t, delta_t[..., lo * positions:hi * positions], out=cols)
        cols = cols.reshape(n_members, in_channels, kh, kw, hi - lo, oh, ow)
        block = image[:, :, lo:hi]  # the block's samples: still in cache for all kh kw adds
        # per kernel column j: the kernel rows' shares summed first into an image ow wide (each add one run of
        # out_h x out_w values at stride 1), then added at columns j, j + sw, ... (runs of out_w values)
        column = _scratch(workspace, "conv_column", (n_members, in_channels, hi - lo, padded[0], ow), dtype)
        for j in range(kw):
            if stride_[0] == 1:  # the first kernel row's shares written, not added to zeros (the sums are the same bits:
                # they differ at most in the sign of a zero, which the add into the zeroed image drops)
                column[..., :oh, :] = cols[:, :, 0, j]
                column[..., oh:, :] = 0
            else:
                column[...] = 0
            for i in range(1 if stride_[0] == 1 else 0, kh):
                rows, _ = _offset_slices(i, j, stride_, output)
                column[..., rows, :] += cols[:, :, i, j]
            _, columns = _offset_slices(0, j, stride_, output)
            block[..., columns] += column
    np.copyto(out, image[..., ph:ph + height, pw:pw + width].transpose(0, 2, 1, 3, 4))
    return out


def conv2d_weight_update(delta, x, kernel_size, *, stride, padding, coefficient=None, pool=None, workspace=None):
    """Kernel and bias changes ``sum_{b, p, q} c_b delta[b, :, p, q] patch[b, p, q]^T`` of every member.

    With ``delta = dL/dh`` (and no ``coefficient``) these are the gradients
    of the loss with respect to the kernels and biases of :func:`conv2d`.
    Like :func:`~bioplastic.ops.outer_sum`, the sum over samples and
    positions is one GEMM per member, ``(out_channels, batch out_h out_w) x
    (batch out_h out_w, in_channels kh kw)``; a shared input (4-D, or a
    broadcast view of one) makes it a single GEMM for all members. The sum is
    split by blocks of samples (:func:`sample_blocks`): one such GEMM per
    block, on its patches, added up in turn.

    Parameters
    ----------
    delta : ndarray of shape (n_members, batch, out_channels, out_h, out_w)
        The postsynaptic factor (``dL/dh``, or a rule's estimate of it).
    x : ndarray of shape (batch, in_channels, height, width) or (n_members, batch, in_channels, height, width)
        The presynaptic rates the convolution received.
    kernel_size : int or (int, int)
    stride : int or (int, int)
    padding : int or (int, int)
    coefficient : array_like broadcasting to (n_members, batch), optional
        A per-sample factor ``c_b`` multiplied in (node perturbation's
        neuromodulator); none: ``c_b = 1``.
    pool : int, optional
        ``delta`` is that of the average-pooled output,
        ``avg_pool2d(conv2d(x, kernels), pool)`` (``pool x pool`` windows
        side by side), of shape ``(n_members, batch, out_channels, out_h //
        pool, out_w // pool)``: the changes are those of
        ``avg_pool2d_backward(delta, (out_h, out_w), pool)``, the same bits,
        without that array (each window's share is written once, straight
        into the layout the GEMM reads).
    workspace : Workspace, optional

    Returns
    -------
    weight_change : ndarray of shape (n_members, out_channels, in_channels, kh, kw)
    bias_change : ndarray of shape (n_members, out_channels)
        ``sum_{b, p, q} c_b delta[e, b, o, p, q]``.

    Notes
    -----
    With a ``workspace``, the first block's patches are not built again
    where they are those that :func:`conv2d` built last into it (it takes
    its blocks last to first): same geometry, and an input equal bit for
    bit to the one they were built from. When the batch is one block, an
    update after the forward pass builds no patches at all; otherwise the
    other blocks' patches are built again, so that no more than one block
    of patches (at most :data:`BLOCK_BYTES`) is ever kept.
    """
    delta, x = np.asarray(delta), np.asarray(x)
    n_members, batch, out_channels, oh, ow = _check_delta(delta)
    _check_feature_maps(x, "x")
    if x.shape[-4] != batch or (x.ndim == 5 and x.shape[0] != n_members):
        expected = f"({n_members}, {batch}, channels, height, width) or ({batch}, channels, height, width)"
        raise ValueError(f"x should have shape {expected} to match delta {delta.shape}, got {x.shape}")
    height, width = x.shape[-2:]
    geometry = _geometry(height, width, kernel_size, stride, padding)
    if pool is not None:
        if not _is_int(pool) or pool < 1:
            raise ValueError(f"pool should be an integer >= 1, got {pool!r}")
        conv_size = geometry[3]
        if tuple(delta.shape[-2:]) != (conv_size[0] // pool, conv_size[1] // pool) or min(conv_size) < pool:
            raise ValueError(f"delta has output size {delta.shape[-2]}x{delta.shape[-1]}, but a {height}x{width} input with "
                             f"kernel_size {kernel_size!r}, stride {stride!r} and padding {padding!r} gives {conv_size[0]}x{conv_size[1]}, "
                             f"pooled {pool}x{pool}: {conv_size[0] // pool}x{conv_size[1] // pool}")
        delta = delta / (pool * pool)  # each window's share, as avg_pool2d_backward divides it
        oh, ow = conv_size
    else:
        _check_output_size(delta.shape, geometry, height, width, kernel_size, stride, padding)
    (kh, kw), _, _, _ = geometry
    arrays = [delta, x]
    if coefficient is not None:
        coefficient = np.asarray(coefficient)
        try:
            coefficient = np.broadcast_to(coefficient, (n_members, batch))
        except ValueError:
            raise ValueError(f"coefficient should broadcast to (n_members, batch) = {(n_members, batch)}, got shape {coefficient.shape}") from None
        arrays.append(coefficient)
    dtype = np.result_type(*arrays)
    if x.ndim == 5 and shared_member(x) is not None:  # a broadcast view of one input: treated as shared
        x = shared_member(x)
    in_channels = x.shape[-3]
    n_rows = batch * oh * ow
    if pool is None:
        delta_t = _members_first_delta(delta, dtype, workspace, coefficient)
    else:
        delta_t = _members_first_spread(delta, pool, (oh, ow), dtype, workspace, coefficient)
    delta_t = delta_t.reshape(n_members, out_channels, n_rows)
    positions, n_cols = oh * ow, in_channels * kh * kw
    factor = delta_t.reshape(n_members * out_channels, n_rows) if x.ndim == 4 else delta_t  # one GEMM for the ensemble
    copies = 1 if x.ndim == 4 else n_members
    weight_change = None
    for lo, hi in sample_blocks(batch, copies * n_cols * positions * np.dtype(dtype).itemsize):
        # the first block's patches are those conv2d built last, where the workspace still holds them
        patches = _patches(x[..., lo:hi, :, :, :], geometry, dtype, workspace, reuse=lo == 0, keep=hi == batch)  # (..., rows, n_cols)
        block = factor[..., lo * positions:hi * positions]
        if weight_change is None:
            weight_change = np.matmul(block, patches)
        else:
            weight_change += np.matmul(block, patches, out=_scratch(workspace, "conv_dk", weight_change.shape, dtype))
    return weight_change.reshape(n_members, out_channels, in_channels, kh, kw), delta_t.sum(axis=2)


# ----------------------------------------------------------------------------- pooling
def _pool_geometry(shape, kernel_size, stride, name="x"):
    if len(shape) < 2:
        raise ValueError(f"{name} should have shape (..., height, width), got shape {tuple(shape)}")
    return _geometry(shape[-2], shape[-1], kernel_size, kernel_size if stride is None else stride, 0)


def _check_pool_gradient(grad, leading, output):
    expected = (*leading, *output)
    if grad.shape != expected:
        raise ValueError(f"grad should have shape {expected} (the pooled output), got {grad.shape}")


def avg_pool2d(x, kernel_size, *, stride=None):
    """Average pooling over the last two axes: the mean of each ``kh x kw`` window.

    Parameters
    ----------
    x : ndarray of shape (..., height, width)
        Feature maps, e.g. (n_members, batch, channels, height, width).
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        By default the kernel size (windows side by side).

    Returns
    -------
    ndarray of shape (..., out_h, out_w)
        ``out_h = (height - kh) // sh + 1`` (no padding); floating point
        (integer inputs give float64).
    """
    x = np.asarray(x)
    (kh, kw), stride_, _, output = _pool_geometry(x.shape, kernel_size, stride)
    dtype = np.result_type(x, 1.0)
    if stride_ == (kh, kw):  # windows side by side: each window's rows summed as whole image rows, then its columns
        lead, (oh, ow) = x.shape[:-2], output
        rows = x[..., :oh * kh, :ow * kw].reshape(*lead, oh, kh, ow * kw)
        summed = _sum_of([rows[..., i, :] for i in range(kh)], dtype)  # (..., out_h, out_w * kw), a new array
        columns = summed.reshape(*lead, oh, ow, kw)
        out = columns[..., 0] if kw == 1 else _sum_of([columns[..., j] for j in range(kw)], dtype)
    else:
        out = np.zeros((*x.shape[:-2], *output), dtype=dtype)
        for i in range(kh):
            for j in range(kw):
                out += x[(..., *_offset_slices(i, j, stride_, output))]
    out /= kh * kw
    return out


def _sum_of(views, dtype):
    """A new array of ``dtype``: the sum of ``views`` (of one shape), added in order."""
    if len(views) == 1:
        return np.array(views[0], dtype=dtype)
    total = np.add(views[0], views[1], dtype=dtype)
    for view in views[2:]:
        total += view
    return total


def avg_pool2d_backward(grad, input_shape, kernel_size, *, stride=None):
    """``dL/dx`` of :func:`avg_pool2d` from ``dL/d(output)``: each window's gradient spread evenly over it.

    Parameters
    ----------
    grad : ndarray of shape (..., out_h, out_w)
    input_shape : tuple of int
        ``(height, width)`` of the input, or its whole shape ``(..., height, width)``.
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        By default the kernel size.

    Returns
    -------
    ndarray of shape (..., height, width)
        Overlapping windows (stride smaller than the kernel) add up; rows and
        columns in no window get zero.
    """
    grad = np.asarray(grad)
    if grad.ndim < 2:
        raise ValueError(f"grad should have shape (..., out_h, out_w), got shape {grad.shape}")
    leading = grad.shape[:-2]
    height, width = _input_size(input_shape, [leading])
    (kh, kw), stride_, _, output = _pool_geometry((height, width), kernel_size, stride, "input_shape")
    _check_pool_gradient(grad, leading, output)
    share = grad / (kh * kw)
    if stride_ == (kh, kw):  # windows side by side: every entry in at most one window, written once
        dx = np.empty((*leading, height, width), dtype=share.dtype)
        covered = (output[0] * kh, output[1] * kw)
        dx[..., covered[0]:, :] = 0
        dx[..., :covered[0], covered[1]:] = 0
        for i in range(kh):
            for j in range(kw):
                dx[(..., *_offset_slices(i, j, stride_, output))] = share
        return dx
    dx = np.zeros((*leading, height, width), dtype=share.dtype)
    for i in range(kh):
        for j in range(kw):
            dx[(..., *_offset_slices(i, j, stride_, output))] += share
    return dx


def max_pool2d(x, kernel_size, *, stride=None):
    """Max pooling over the last two axes: the largest value of each ``kh x kw`` window.

    Parameters
    ----------
    x : ndarray of shape (..., height, width)
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        By default the kernel size.

    Returns
    -------
    ndarray of shape (..., out_h, out_w)
        ``out_h = (height - kh) // sh + 1`` (no padding); NaN where a window holds one.
    """
    x = np.asarray(x)
    (kh, kw), stride_, _, output = _pool_geometry(x.shape, kernel_size, stride)
    out = np.array(x[(..., *_offset_slices(0, 0, stride_, output))])
    for i in range(kh):
        for j in range(kw):
            if i or j:
                np.maximum(out, x[(..., *_offset_slices(i, j, stride_, output))], out=out)
    return out


def max_pool2d_backward(grad, x, kernel_size, *, stride=None):
    """``dL/dx`` of :func:`max_pool2d`: each window's gradient routed to its largest input.

    Ties within a window are broken by the first index: the gradient goes to
    the first maximal entry in row-major order of the window (top-most row,
    then left-most column), as :func:`numpy.argmax` over the flattened
    window picks it; the other tied entries get nothing. Where windows
    overlap, an entry that is the maximum of several windows gets the sum of
    their gradients.

    Parameters
    ----------
    grad : ndarray of shape (..., out_h, out_w)
        ``dL/d(output)``.
    x : ndarray of shape (..., height, width)
        The input of the forward pass (the maxima are found again).
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        By default the kernel size.

    Returns
    -------
    ndarray of shape (..., height, width)
    """
    grad, x = np.asarray(grad), np.asarray(x)
    (kh, kw), stride_, _, output = _pool_geometry(x.shape, kernel_size, stride)
    _check_pool_gradient(grad, x.shape[:-2], output)
    windows = sliding_window_view(x, (kh, kw), axis=(-2, -1))[..., ::stride_[0], ::stride_[1], :, :][..., :output[0], :output[1], :, :]
    winner = windows.reshape(*windows.shape[:-2], kh * kw).argmax(axis=-1)  # first maximum in row-major order
    dx = np.zeros(x.shape, dtype=np.result_type(grad, x, 1.0))
    zero = np.zeros((), dtype=dx.dtype)
    for index in range(kh * kw):
        i, j = divmod(index, kw)
        dx[(..., *_offset_slices(i, j, stride_, output))] += np.where(winner == index, grad, zero)
    return dx
