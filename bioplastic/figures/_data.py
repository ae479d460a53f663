"""The data the studies' figures read and write: MNIST and CIFAR-10 subsets (from ``BIOPLASTIC_DATA_DIR`` or a download), checkpoint paths."""

from __future__ import annotations

import functools
import os
from pathlib import Path

__all__ = ["centred_cifar10", "checkpoint_stem", "cifar10_subset", "figure_data_dir", "mnist_subset"]


def checkpoint_stem(out_dir, key):
    """``out_dir/checkpoints/<key>`` (the folder made), or None without ``out_dir``."""
    if out_dir is None:
        return None
    stem = Path(out_dir) / "checkpoints" / key
    stem.parent.mkdir(parents=True, exist_ok=True)
    return stem


def figure_data_dir():
    """``BIOPLASTIC_DATA_DIR`` when set (resolved where the loaders read it), else ``None`` (download when called)."""
    return os.environ.get("BIOPLASTIC_DATA_DIR") or None


@functools.lru_cache(maxsize=8)
def _cached_mnist(n_train, n_test, eval_train_size, data_dir):
    from ..tasks.mnist import MnistTask

    return MnistTask(data_dir, n_train=n_train, n_test=n_test, eval_train_size=eval_train_size)


def mnist_subset(n_train=None, n_test=None, *, eval_train_size):
    """MNIST with its first ``n_train`` training and ``n_test`` test images (``None``: all), loaded once per process.

    Parameters
    ----------
    n_train, n_test : int or None
    eval_train_size : int
        Training images the evaluations use (see :class:`~bioplastic.tasks.MnistTask`).
    """
    return _cached_mnist(n_train, n_test, eval_train_size, figure_data_dir())


@functools.lru_cache(maxsize=4)
def _cached_cifar10(n_train, n_test, augment, eval_train_size, data_dir):
    from ..tasks.cifar10 import Cifar10Task

    return Cifar10Task(data_dir, download=data_dir is None, n_train=n_train, n_test=n_test, augment=augment,
                       eval_train_size=eval_train_size)


def cifar10_subset(n_train=None, n_test=None, *, augment=False, eval_train_size=None):
    """CIFAR-10 standardised per channel, its first ``n_train`` training and ``n_test`` test images (``None``: all), loaded once per process.

    Parameters
    ----------
    n_train, n_test : int or None
    augment : bool, default False
        Random crops and flips of the training minibatches (see :class:`~bioplastic.tasks.Cifar10Task`).
    eval_train_size : int or None
        Training images the evaluations use.
    """
    return _cached_cifar10(n_train, n_test, bool(augment), eval_train_size, figure_data_dir())


@functools.lru_cache(maxsize=4)
def _cached_centred_cifar10(n_train, n_test, pool, eval_train_size, data_dir):
    from ..tasks.base import DatasetTask
    from ..tasks.cifar10 import load_cifar10

    data = load_cifar10(data_dir, download=data_dir is None)
    x_train, x_test = data["x_train"][:n_train], data["x_test"][:n_test]
    if pool > 1:  # average pooling: (n, 3, 32, 32) -> (n, 3, 32 / pool, 32 / pool)
        side = 32 // pool
        x_train = x_train.reshape(len(x_train), 3, side, pool, side, pool).mean(axis=(3, 5))
        x_test = x_test.reshape(len(x_test), 3, side, pool, side, pool).mean(axis=(3, 5))
    x_train, x_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
    mean = x_train.mean(axis=0)
    return DatasetTask(x_train - mean, data["y_train"][:n_train], x_test - mean, data["y_test"][:n_test], n_classes=10,
                       name="cifar10", eval_train_size=eval_train_size)


def centred_cifar10(n_train=None, n_test=None, *, pool=1, eval_train_size):
    """CIFAR-10 flattened and centred on the training mean (no scaling), optionally ``pool x pool`` average-pooled, loaded once per process.

    The MLP studies' input (Kunin et al., Dalm et al.); :func:`cifar10_subset`
    is the per-channel standardised task of the convolutional networks.

    Parameters
    ----------
    n_train, n_test : int or None
        The first ``n_train`` training and ``n_test`` test images (``None``: all).
    pool : int, default 1
        Average-pooling window (and stride) applied to each 32 x 32 channel first.
    eval_train_size : int
        Training images the evaluations use.
    """
    return _cached_centred_cifar10(n_train, n_test, pool, eval_train_size, figure_data_dir())
