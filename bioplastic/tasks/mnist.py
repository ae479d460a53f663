"""MNIST handwritten digits: the loader of the canonical files and the task.

The loader returns plain numpy arrays; see :func:`load_mnist` for where the
files are looked for and how they are verified, and :class:`MnistTask` for
the classification task built on them.  The idx reader (:func:`read_idx`)
and the preprocessing are those of :mod:`bioplastic.tasks.idx_images`, which
also loads other image sets in MNIST's idx layout (Fashion-MNIST, KMNIST).
"""

from __future__ import annotations

import os

import numpy as np

from ._data import fetch_file, verify_checksum
from .base import DatasetTask
from .idx_images import _check_subset_sizes, _read_image_set, _take_subsets, read_idx

__all__ = ["MNIST_FILES", "MNIST_URL", "NOT_MNIST_ADVICE", "MnistTask", "load_mnist", "read_idx"]

#: Base URL of the canonical MNIST mirror (Google Cloud CVDF bucket).
MNIST_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"

#: Canonical file names and the sha256 of their DECOMPRESSED content.  The
#: decompressed bytes are checked (not the ``.gz`` wrappers) because
#: re-compressed copies and uncompressed copies of the same data are equally
#: valid.
MNIST_FILES: dict[str, tuple[str, str]] = {
    "x_train": (
        "train-images-idx3-ubyte.gz",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    "y_train": (
        "train-labels-idx1-ubyte.gz",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    "x_test": (
        "t10k-images-idx3-ubyte.gz",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    "y_test": (
        "t10k-labels-idx1-ubyte.gz",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
}

#: What a checksum mismatch of an MNIST file tells the user to do.
NOT_MNIST_ADVICE = (
    "If it is meant to be MNIST, it is corrupted or incomplete: delete it and "
    "download or copy it again. If it is another image set in MNIST's idx "
    "layout (Fashion-MNIST, KMNIST, ...), load it with "
    "bioplastic.tasks.IdxImageTask(data_dir=...) or "
    "bioplastic.tasks.idx_images.load_idx_images(data_dir=...) (task name "
    "'idx_images' in configuration files), giving known_hashes={...} for "
    "its files or verify=False."
)


def load_mnist(
    data_dir: str | os.PathLike | None = None, *, download: bool = True
) -> dict[str, np.ndarray]:
    """Load MNIST (60,000 training and 10,000 test images of digits 0-9).

    Files (canonical names ``train-images-idx3-ubyte.gz``,
    ``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz``,
    ``t10k-labels-idx1-ubyte.gz``; uncompressed copies without ``.gz`` are
    accepted too) are looked for in ``<data_dir>/mnist/`` and then directly
    in ``<data_dir>``.  ``data_dir`` defaults to the environment variable
    ``BIOPLASTIC_DATA_DIR``; if neither is set the pooch cache
    ``pooch.os_cache("bioplastic")/mnist/`` is used and missing files are
    downloaded from :data:`MNIST_URL` when ``download`` is true.

    Every file -- local, cached or freshly downloaded -- is verified against
    the sha256 of the canonical *decompressed* content (:data:`MNIST_FILES`),
    so re-compressed or uncompressed copies are accepted but any change to
    the pixels or labels is not.  Verification results are cached per
    process (keyed on path, modification time and size).  Other image sets
    stored under the same names (Fashion-MNIST, KMNIST) fail this check; load
    them with :class:`~bioplastic.tasks.IdxImageTask` or
    :func:`~bioplastic.tasks.idx_images.load_idx_images`.

    Parameters
    ----------
    data_dir : str, os.PathLike or None, optional
        Local data directory; nothing is downloaded when it (or
        ``BIOPLASTIC_DATA_DIR``) is given.
    download : bool, optional
        Whether files missing from the pooch cache may be downloaded.

    Returns
    -------
    dict
        ``"x_train"``
            float64 array, shape (60000, 784): pixel intensities scaled to
            [0, 1] (raw uint8 / 255), each row a 28x28 image flattened in
            row-major order.
        ``"y_train"``
            int64 array, shape (60000,): digit labels 0-9.
        ``"x_test"``
            float64 array, shape (10000, 784), as ``x_train``.
        ``"y_test"``
            int64 array, shape (10000,), as ``y_train``.

    Raises
    ------
    FileNotFoundError
        If a file is missing and cannot be downloaded; the message lists the
        directories searched, the canonical URL and the environment variable.
    ValueError
        If a file fails its checksum (message names the file, expected and
        actual sha256, and how to load a non-canonical idx image set) or is
        not a valid idx file of 28x28 uint8 images or their labels.
    ImportError
        If pooch is needed (no data directory given) but not installed.
    """
    paths = {}
    for key, (filename, sha256) in MNIST_FILES.items():
        path = fetch_file(
            filename,
            dataset="mnist",
            url=MNIST_URL + filename,
            data_dir=data_dir,
            download=download,
            known_hash=None,  # the .gz wrapper may differ; content checked below
            alternative_names=(filename.removesuffix(".gz"),),
        )
        verify_checksum(path, "sha256:" + sha256, decompress=True, advice=NOT_MNIST_ADVICE)
        paths[key] = path
    files = {
        "train_images": paths["x_train"],
        "train_labels": paths["y_train"],
        "test_images": paths["x_test"],
        "test_labels": paths["y_test"],
    }
    return _read_image_set(files, image_shape=(28, 28))[0]


# --------------------------------------------------------------------------
# the task object
# --------------------------------------------------------------------------


class MnistTask(DatasetTask):
    """MNIST digit classification as a :class:`~bioplastic.tasks.Task`.

    Inputs are the 784 pixel intensities in [0, 1] (raw uint8 / 255, no
    centring); targets are one-hot vectors of the 10 classes
    (``is_classification`` is true, so training records ``test_accuracy``).
    The NP paper (Hiratani et al. 2022, Sec. 5) trains 784-width-10 ReLU
    networks with a softmax readout on the squared error to the one-hot
    target (``models.mlp((784, width, 10), readout="softmax")`` with the
    default ``loss="squared_error"``), batch 100, the learning rate *not*
    divided by the batch size (``batch_reduction="sum"``) and
    ``sigma = 1e-4``; it trains on all 60,000 training images.

    Parameters
    ----------
    data_dir : str, os.PathLike or None, optional
        Local data directory (default: ``BIOPLASTIC_DATA_DIR``, else the
        download cache); see :func:`load_mnist`.
    download : bool, default True
    n_train : int, optional
        Keep only the first ``n_train`` of the 60,000 training images (in the
        canonical order), for smaller runs.
    n_test : int, optional
        Keep only the first ``n_test`` of the 10,000 test images.
    eval_train_size : int, optional
        Evaluate the per-epoch training error and accuracy on the first
        ``eval_train_size`` training images only (saves most of the
        evaluation time of a full-size run).

    Examples
    --------
    >>> task = MnistTask(n_train=10000, eval_train_size=1000)  # doctest: +SKIP
    >>> task.n_inputs, task.n_outputs, task.is_classification  # doctest: +SKIP
    (784, 10, True)
    """

    def __init__(self, data_dir=None, *, download=True, n_train=None, n_test=None, eval_train_size=None):
        sizes = _check_subset_sizes(n_train, n_test)
        data = load_mnist(data_dir, download=download)
        what = {"train": "MNIST train images", "test": "MNIST test images"}
        super().__init__(
            *_take_subsets(data, sizes, what), n_classes=10, name="mnist", eval_train_size=eval_train_size
        )

    def describe(self):
        return {**super().describe(), "eval_train_size": self.eval_train_size}
