"""MNIST handwritten digits: an idx-file reader and a loader.

The loader returns plain numpy arrays; see :func:`load_mnist` for where the
files are looked for and how they are verified, and :class:`MnistTask` for
the classification task built on them.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from .._validation import check_positive_int
from ._data import fetch_file, verify_checksum
from .base import DatasetTask

__all__ = ["MNIST_FILES", "MNIST_URL", "MnistTask", "load_mnist", "read_idx"]

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

# idx type byte -> big-endian numpy dtype of the stored elements.
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an idx file (the MNIST container format), gzipped or not.

    The idx format is a 4-byte magic number -- two zero bytes, a type byte
    (``0x08`` uint8, ``0x09`` int8, ``0x0B`` int16, ``0x0C`` int32, ``0x0D``
    float32, ``0x0E`` float64) and the number of dimensions ``ndim`` -- then
    ``ndim`` big-endian uint32 dimension sizes, then the elements in C order,
    big-endian.  Gzip compression is detected from the file's first bytes,
    not from its name.

    Parameters
    ----------
    path : str or os.PathLike
        The idx file (optionally gzip-compressed).

    Returns
    -------
    numpy.ndarray
        Array of shape ``(d_1, ..., d_ndim)`` with the native-byte-order
        version of the stored dtype (``uint8``, ``int8``, ``int16``, ``int32``,
        ``float32`` or ``float64``).  Writable and C-contiguous.

    Raises
    ------
    ValueError
        If the file is not a valid idx file: bad magic number, unknown type
        byte, header shorter than announced, a data section whose size does
        not match the dimensions (truncated or trailing bytes), or a corrupt
        gzip stream.  The message names the file.
    TypeError
        If ``path`` is not a str or path-like object.
    """
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"path must be a str or os.PathLike, got {type(path).__name__} {path!r}"
        )
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(
                f"{path}: corrupt or truncated gzip stream ({exc})"
            ) from exc
    if len(raw) < 4:
        raise ValueError(
            f"{path}: not an idx file: {len(raw)} bytes, shorter than the "
            "4-byte magic number"
        )
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(
            f"{path}: not an idx file: magic number starts with "
            f"0x{raw[0]:02X}{raw[1]:02X}, expected 0x0000"
        )
    type_code, ndim = raw[2], raw[3]
    if type_code not in _IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
        raise ValueError(
            f"{path}: unknown idx type byte 0x{type_code:02X}; expected one of "
            f"{known}"
        )
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise ValueError(
            f"{path}: truncated idx header: {ndim} dimensions need "
            f"{header_len} header bytes, file has {len(raw)}"
        )
    shape = tuple(
        int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4)
    )
    dtype = _IDX_DTYPES[type_code]
    expected = math.prod(shape) * dtype.itemsize
    actual = len(raw) - header_len
    if actual != expected:
        problem = "truncated" if actual < expected else "has trailing bytes"
        raise ValueError(
            f"{path}: idx data section {problem}: dimensions {shape} of "
            f"{dtype.name} need {expected} bytes after the {header_len}-byte "
            f"header, found {actual}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header_len).reshape(shape)
    return data.astype(dtype.newbyteorder("="), order="C", copy=True)


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
    process (keyed on path, modification time and size).

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
        actual sha256) or is not a valid idx file.
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
        verify_checksum(path, "sha256:" + sha256, decompress=True)
        paths[key] = path

    out: dict[str, np.ndarray] = {}
    for split in ("train", "test"):
        images = read_idx(paths[f"x_{split}"])
        labels = read_idx(paths[f"y_{split}"])
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise ValueError(
                f"{paths[f'x_{split}']}: expected images of shape (n, 28, 28), "
                f"got {images.shape}"
            )
        if labels.shape != (images.shape[0],):
            raise ValueError(
                f"{paths[f'y_{split}']}: expected {images.shape[0]} labels, "
                f"got shape {labels.shape}"
            )
        x = images.reshape(images.shape[0], 28 * 28).astype(np.float64)
        x /= 255.0
        out[f"x_{split}"] = x
        out[f"y_{split}"] = labels.astype(np.int64)
    return {key: out[key] for key in ("x_train", "y_train", "x_test", "y_test")}


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
        sizes = {"train": n_train, "test": n_test}
        for split, n in sizes.items():
            if n is not None:
                sizes[split] = check_positive_int(n, f"n_{split}")
        data = load_mnist(data_dir, download=download)
        parts = {}
        for split, n in sizes.items():
            x, y = data[f"x_{split}"], data[f"y_{split}"]
            if n is not None:
                if n > len(x):
                    raise ValueError(f"n_{split}={n} exceeds the {len(x)} MNIST {split} images")
                x, y = x[:n], y[:n]
            parts[split] = (x, y)
        super().__init__(*parts["train"], *parts["test"], n_classes=10, name="mnist", eval_train_size=eval_train_size)

    def describe(self):
        return {**super().describe(), "eval_train_size": self.eval_train_size}
