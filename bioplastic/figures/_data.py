"""The data sets the studies' figures read: MNIST and CIFAR-10 subsets, from ``BIOPLASTIC_DATA_DIR`` or a download."""

from __future__ import annotations

import functools
import os

__all__ = ["cifar10_subset", "figure_data_dir", "mnist_subset"]


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
