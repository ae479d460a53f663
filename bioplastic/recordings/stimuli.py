"""Stimulus images as the inputs of a network trained on another image set.

The images of a recording (e.g. the 92 objects of Kriegeskorte et al. 2008,
175 x 175 pixels) rarely have the size or the intensity statistics of the
images a model was trained on (CIFAR-10: 32 x 32, standardised per
channel).  Two explicit steps make them the model's inputs:

* :func:`resize_images` -- area-averaging resampling (each output pixel the
  mean of the input area it covers, fractional pixels weighted by their
  overlap: the box filter of PIL's ``Image.BOX`` and OpenCV's
  ``INTER_AREA``), separable over rows and columns;
* :func:`images_to_inputs` -- resize, scale to ``[0, 1]``, standardise each
  channel with the training set's mean and standard deviation and flatten
  channel-major, the layout of :class:`~bioplastic.tasks.Cifar10Task` and
  :func:`~bioplastic.models.cnn`.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_finite_array, check_positive_int

__all__ = ["area_weights", "images_to_inputs", "resize_images"]


def area_weights(n_in, n_out):
    """The area-averaging resampling matrix from ``n_in`` to ``n_out`` pixels along one axis.

    Output pixel ``o`` covers the input interval ``[o s, (o + 1) s)`` with
    ``s = n_in / n_out``; its weight on input pixel ``i`` is the length of
    the overlap of ``[i, i + 1)`` with that interval, divided by ``s``.

    Parameters
    ----------
    n_in, n_out : int

    Returns
    -------
    ndarray of shape (n_out, n_in)
        Non-negative; every row sums to 1 and every column to ``n_out / n_in``.
    """
    n_in = check_positive_int(n_in, "n_in")
    n_out = check_positive_int(n_out, "n_out")
    scale = n_in / n_out
    starts = np.arange(n_out)[:, None] * scale
    edges = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(starts + scale, edges + 1) - np.maximum(starts, edges), 0.0, None)
    return overlap / scale


def _check_images(images):
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images should have shape (n_images, height, width, channels), got shape {images.shape}")
    if images.dtype == np.uint8:
        return images.astype(float) / 255.0
    images = check_finite_array(images, "images", dtype=float)
    if images.min() < 0 or images.max() > 1:
        raise ValueError(f"float images should hold intensities in [0, 1], got values in [{images.min():g}, {images.max():g}]; "
                         "pass uint8 images (0-255) or divide by the maximum intensity first")
    return images


def resize_images(images, size):
    """Resize images by area averaging (see :func:`area_weights`).

    Parameters
    ----------
    images : array_like of shape (n_images, height, width, channels)
        uint8 (0-255) or float intensities.
    size : int or (int, int)
        Output ``(height, width)``; an int for a square.

    Returns
    -------
    ndarray of shape (n_images, size_h, size_w, channels), float64
        In the input's units (uint8 images are not rescaled here). A constant
        image stays constant; each channel's mean over the image is kept when
        the sizes divide evenly. The two contractions run in numpy's own loops,
    not the BLAS, so the result is the same bits whatever the BLAS threads
    (a network's inputs that a checkpoint identifies by digest stay the same).
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images should have shape (n_images, height, width, channels), got shape {images.shape}")
    height, width = (size, size) if np.ndim(size) == 0 else tuple(size)
    rows = area_weights(images.shape[1], height)
    columns = area_weights(images.shape[2], width)
    resized_rows = np.einsum("oh,nhwc->nowc", rows, np.asarray(images, dtype=float), optimize=False)
    return np.einsum("nowc,pw->nopc", resized_rows, columns, optimize=False)


def images_to_inputs(images, *, channel_mean, channel_std, size=32):
    """Images as the flat, per-channel standardised inputs of a network trained on another image set.

    Each image is resized by area averaging (:func:`resize_images`), its
    intensities scaled to ``[0, 1]`` (uint8 divided by 255), each channel
    ``c`` standardised as ``(x - channel_mean[c]) / channel_std[c]`` with the
    statistics of the training set the network learnt from (e.g.
    ``Cifar10Task.channel_mean`` and ``channel_std``, themselves of
    intensities in ``[0, 1]``), and the result flattened channel-major
    (channel, then row, then column).

    Parameters
    ----------
    images : array_like of shape (n_images, height, width, channels)
        uint8 (0-255), or float intensities in ``[0, 1]``; channels last (as
        :attr:`Kriegeskorte92.images <bioplastic.recordings.Kriegeskorte92.images>`).
    channel_mean, channel_std : array_like of shape (channels,)
        The training set's per-channel mean and (positive) standard deviation.
    size : int or (int, int), optional
        The network's input height and width (default 32 x 32, CIFAR-10's).

    Returns
    -------
    ndarray of shape (n_images, channels * size_h * size_w), float64

    Raises
    ------
    ValueError
        If the images are not 4-dimensional, float intensities lie outside
        ``[0, 1]``, or the statistics do not have one positive entry per
        channel.
    """
    images = _check_images(images)
    n_channels = images.shape[3]
    mean = check_finite_array(channel_mean, "channel_mean", ndim=1, dtype=float)
    std = check_finite_array(channel_std, "channel_std", ndim=1, dtype=float)
    if mean.shape != (n_channels,) or std.shape != (n_channels,):
        raise ValueError(f"channel_mean and channel_std should have shape ({n_channels},) (one per channel of the images), "
                         f"got {mean.shape} and {std.shape}")
    if (std <= 0).any():
        raise ValueError(f"channel_std should be positive, got {std.tolist()}")
    resized = (resize_images(images, size) - mean) / std
    return np.ascontiguousarray(resized.transpose(0, 3, 1, 2)).reshape(len(resized), -1)
