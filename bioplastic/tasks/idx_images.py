"""Image sets in MNIST's idx layout: the idx reader, a loader and a task.

MNIST, Fashion-MNIST, KMNIST and EMNIST ship as four idx files (training
images and labels, test images and labels).  :func:`read_idx` reads one
file; :func:`load_idx_images` reads the four files of any such set from a
directory or from explicit paths and preprocesses them as MNIST is
preprocessed (pixels ``uint8 / 255`` flattened row-major, integer labels);
:class:`IdxImageTask` is the classification task built on them (one-hot
targets).  :mod:`bioplastic.tasks.mnist` builds MNIST itself on these
functions, with the canonical files' checksums.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .._validation import check_positive_int
from ._data import _find, _parse_hash, absolute_path, file_digest
from .base import DatasetTask

__all__ = ["IDX_FILE_KEYS", "IDX_FILE_NAMES", "IdxImageTask", "load_idx_images", "read_idx"]

#: The four files of an idx image set, in order.
IDX_FILE_KEYS = ("train_images", "train_labels", "test_images", "test_labels")

#: File names looked for in a data directory (MNIST's names, which
#: Fashion-MNIST and KMNIST use too); the same names without ``.gz`` are
#: accepted for uncompressed copies.
IDX_FILE_NAMES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
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


# --------------------------------------------------------------------------
# preprocessing shared with MNIST
# --------------------------------------------------------------------------


def _read_split(
    images_path: Path, labels_path: Path, *, image_shape: tuple[int, ...] | None
) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """Read one split's images and labels and preprocess them.

    Returns float64 inputs of shape ``(n, prod(image shape))`` (raw uint8 /
    255, each image flattened in row-major order), int64 labels of shape
    ``(n,)`` and the image shape.  ``image_shape``, when given, is required.
    """
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim < 2:
        raise ValueError(
            f"{images_path}: expected images of shape (n, height, width, ...), got {images.shape}"
        )
    if image_shape is not None and images.shape[1:] != tuple(image_shape):
        expected = ", ".join(["n", *map(str, image_shape)])
        raise ValueError(f"{images_path}: expected images of shape ({expected}), got {images.shape}")
    if images.dtype != np.uint8:
        raise ValueError(
            f"{images_path}: expected uint8 pixels (idx type byte 0x08, scaled by 1/255), "
            f"got {images.dtype.name}"
        )
    if labels.shape != (images.shape[0],):
        raise ValueError(
            f"{labels_path}: expected {images.shape[0]} labels, got shape {labels.shape}"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{labels_path}: expected integer labels, got {labels.dtype.name}")
    x = images.reshape(images.shape[0], -1).astype(np.float64)
    x /= 255.0
    return x, labels.astype(np.int64), images.shape[1:]


def _read_image_set(
    paths: Mapping[str, Path], *, image_shape: tuple[int, ...] | None = None
) -> tuple[dict[str, np.ndarray], tuple[int, ...]]:
    """Read and preprocess the four files of an idx image set.

    Parameters
    ----------
    paths : mapping
        The files, keyed by :data:`IDX_FILE_KEYS`.
    image_shape : tuple of int, optional
        Required shape of every image (MNIST: ``(28, 28)``); by default the
        test images must have the training images' shape.

    Returns
    -------
    arrays : dict
        ``"x_train"``, ``"x_test"``: float64, shape ``(n, prod(image_shape))``,
        raw uint8 / 255, each image flattened in row-major order;
        ``"y_train"``, ``"y_test"``: int64 labels, shape ``(n,)``.
    image_shape : tuple of int
        Shape of one image.

    Raises
    ------
    ValueError
        If a file is not a valid idx file, the images are not uint8 arrays of
        at least two dimensions (or not of ``image_shape``), or the labels are
        not integers, one per image.  The message names the file.
    """
    x_train, y_train, shape = _read_split(
        paths["train_images"], paths["train_labels"], image_shape=image_shape
    )
    x_test, y_test, _ = _read_split(paths["test_images"], paths["test_labels"], image_shape=shape)
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}, shape


def _check_subset_sizes(n_train, n_test) -> dict[str, int | None]:
    """Validate the ``n_train`` / ``n_test`` of a task before anything is loaded."""
    sizes = {"train": n_train, "test": n_test}
    for split, n in sizes.items():
        if n is not None:
            sizes[split] = check_positive_int(n, f"n_{split}")
    return sizes


def _take_subsets(
    data: Mapping[str, np.ndarray], sizes: Mapping[str, int | None], what: Mapping[str, str]
) -> list[np.ndarray]:
    """``[x_train, y_train, x_test, y_test]``, each split cut to its first ``sizes[split]`` samples.

    ``what[split]`` describes the split's samples in the message of a size
    larger than the split, e.g. ``"MNIST train images"``.
    """
    parts = []
    for split, n in sizes.items():
        x, y = data[f"x_{split}"], data[f"y_{split}"]
        if n is not None:
            if n > len(x):
                raise ValueError(f"n_{split}={n} exceeds the {len(x)} {what[split]}")
            x, y = x[:n], y[:n]
        parts += [x, y]
    return parts


# --------------------------------------------------------------------------
# any idx image set: files, checksums, loader
# --------------------------------------------------------------------------


def _check_path(value, name: str) -> Path:
    if isinstance(value, bytes) or not isinstance(value, (str, os.PathLike)):
        raise TypeError(
            f"{name} must be None, a str or an os.PathLike, got {type(value).__name__} {value!r}"
        )
    if os.fspath(value) == "":
        raise ValueError(f"{name} must be a non-empty path or None, got an empty string")
    return Path(value).expanduser()


def _locate(data_dir, files: Mapping[str, object]) -> dict[str, Path]:
    """Absolute paths of the four files (relative paths against ``data_dir``, else the working directory)."""
    root = None if data_dir is None else absolute_path(_check_path(data_dir, "data_dir"))
    paths = {}
    for key in IDX_FILE_KEYS:
        given = files.get(key)
        if given is not None:
            path = _check_path(given, key)
            path = absolute_path(path if root is None else root / path)
            if not path.is_file():
                raise FileNotFoundError(f"{key} file {path} does not exist")
            paths[key] = path
            continue
        if root is None:
            missing = [k for k in IDX_FILE_KEYS if files.get(k) is None]
            raise ValueError(
                "an idx image set needs data_dir (a directory holding "
                + ", ".join(IDX_FILE_NAMES[k] for k in missing)
                + ") or the path of every file; no path given for "
                + ", ".join(missing)
            )
        name = IDX_FILE_NAMES[key]
        found = _find([name, name.removesuffix(".gz")], [root])
        if found is None:
            note = "" if root.is_dir() else " (directory does not exist)"
            raise FileNotFoundError(
                f"{key} file {name!r} (or {name.removesuffix('.gz')!r}) not found in {root}{note}; "
                f"give its path as {key}=... if it has another name"
            )
        paths[key] = found
    return paths


def _check_hashes(known_hashes, verify) -> dict[str, str]:
    if not isinstance(verify, bool):
        raise TypeError(f"verify must be a bool, got {type(verify).__name__} {verify!r}")
    if known_hashes is None:
        known_hashes = {}
    if not isinstance(known_hashes, Mapping):
        raise TypeError(
            "known_hashes must be a mapping of file keys to hashes, got "
            f"{type(known_hashes).__name__} {known_hashes!r}"
        )
    unknown = sorted(set(known_hashes) - set(IDX_FILE_KEYS))
    if unknown:
        raise ValueError(f"unknown file key(s) {unknown} in known_hashes; expected some of {list(IDX_FILE_KEYS)}")
    for key, value in known_hashes.items():  # the format, before any file is read
        try:
            _parse_hash(value)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"known_hashes[{key!r}]: {exc}") from None
    if not verify:
        if known_hashes:
            raise ValueError(
                f"known_hashes for {sorted(known_hashes)} given with verify=False; "
                "give either the hashes (the files are checked) or verify=False (they are not)"
            )
        return {}
    missing = [key for key in IDX_FILE_KEYS if key not in known_hashes]
    if missing:
        raise ValueError(
            f"verify=True needs a known hash of every file, none given for {missing}: pass "
            "known_hashes={'train_images': 'sha256:<hex>', ...} (the hash of the file as stored "
            "or of its decompressed content; 'md5:<hex>' too), or verify=False to read the files "
            "unchecked"
        )
    return dict(known_hashes)


def _verify_file(path: Path, key: str, known_hash: str) -> None:
    """Accept the file if its stored bytes or its decompressed content have ``known_hash``."""
    algorithm, expected = _parse_hash(known_hash)
    stored = file_digest(path, algorithm=algorithm)
    if stored == expected:
        return
    content = file_digest(path, algorithm=algorithm, decompress=True)
    if content == expected:
        return
    found = f"{algorithm} {stored}"
    if content != stored:
        found += f" as stored and {algorithm} {content} decompressed"
    raise ValueError(
        f"Checksum mismatch for the {key} file {path}: expected {algorithm} {expected}, "
        f"the file has {found}. Give its right hash in known_hashes[{key!r}], or verify=False "
        "to read it unchecked."
    )


def _load(data_dir, files, known_hashes, verify):
    hashes = _check_hashes(known_hashes, verify)
    paths = _locate(data_dir, files)
    for key, known_hash in hashes.items():
        _verify_file(paths[key], key, known_hash)
    data, shape = _read_image_set(paths)
    return data, paths, shape


def load_idx_images(
    *,
    data_dir: str | os.PathLike | None = None,
    train_images: str | os.PathLike | None = None,
    train_labels: str | os.PathLike | None = None,
    test_images: str | os.PathLike | None = None,
    test_labels: str | os.PathLike | None = None,
    known_hashes: Mapping[str, str] | None = None,
    verify: bool = True,
) -> dict[str, np.ndarray]:
    """Load any image set in MNIST's idx layout (Fashion-MNIST, KMNIST, EMNIST, ...).

    The four files are looked for in ``data_dir`` under MNIST's names
    (:data:`IDX_FILE_NAMES`, which Fashion-MNIST and KMNIST use too;
    uncompressed copies without ``.gz`` are accepted), unless their paths are
    given.  Nothing is downloaded and the environment variable
    ``BIOPLASTIC_DATA_DIR`` is not consulted.  Relative paths are made
    absolute when this is called: file paths against ``data_dir`` if it is
    given, else, like ``data_dir`` itself, against the current working
    directory.  The preprocessing is MNIST's (:func:`load_mnist
    <bioplastic.tasks.mnist.load_mnist>`).

    Parameters
    ----------
    data_dir : str, os.PathLike or None, optional
        Directory holding the files.
    train_images, train_labels, test_images, test_labels : str, os.PathLike or None, optional
        Path of each file (gzipped or not), for files with other names (e.g.
        EMNIST's ``emnist-letters-train-images-idx3-ubyte.gz``).
    known_hashes : mapping of str to str, optional
        The hash of each of the four files, keyed by :data:`IDX_FILE_KEYS`,
        as ``"sha256:<hex>"``, ``"md5:<hex>"`` or a bare sha256 hex string.
        A file passes when the hash matches its bytes as stored (the hashes
        data sets publish for their ``.gz`` files) or its decompressed
        content.
    verify : bool, default True
        Check every file against ``known_hashes``, which must then hold all
        four.  ``verify=False`` reads the files unchecked (and
        ``known_hashes`` must not be given).

    Returns
    -------
    dict
        ``"x_train"``, ``"x_test"``: float64 arrays of shape
        ``(n, prod(image shape))``, pixel intensities raw uint8 / 255 in
        [0, 1], each image flattened in row-major order; ``"y_train"``,
        ``"y_test"``: int64 labels of shape ``(n,)``.

    Raises
    ------
    ValueError
        Without ``data_dir`` and a missing file path; with ``verify=True`` and
        a file without a known hash; on a checksum mismatch (the message names
        the file, the expected and the actual hashes); for a file that is not
        an idx image or label file.
    FileNotFoundError
        If a file does not exist.
    TypeError
        For a path, ``known_hashes`` or ``verify`` of the wrong type.

    Examples
    --------
    >>> data = load_idx_images(data_dir="fashion-mnist", verify=False)  # doctest: +SKIP
    >>> data["x_train"].shape                                            # doctest: +SKIP
    (60000, 784)
    """
    files = {
        "train_images": train_images,
        "train_labels": train_labels,
        "test_images": test_images,
        "test_labels": test_labels,
    }
    return _load(data_dir, files, known_hashes, verify)[0]


# --------------------------------------------------------------------------
# the task object
# --------------------------------------------------------------------------


class IdxImageTask(DatasetTask):
    """Classification of an image set in MNIST's idx layout, as a :class:`~bioplastic.tasks.Task`.

    Inputs and targets are those of :class:`~bioplastic.tasks.MnistTask`:
    pixel intensities raw uint8 / 255 in [0, 1], each image flattened in
    row-major order, and one-hot targets of the integer labels.  The files
    are found and checked as by :func:`load_idx_images`.  The configuration
    file task name is ``"idx_images"``.

    Parameters
    ----------
    data_dir : str, os.PathLike or None, optional
        Directory holding the four files under MNIST's names.
    train_images, train_labels, test_images, test_labels : str, os.PathLike or None, optional
        Path of each file, for other names.
    known_hashes : mapping of str to str, optional
        Hash of each file (see :func:`load_idx_images`).
    verify : bool, default True
        Check the files against ``known_hashes``; ``False`` reads them
        unchecked.
    n_train, n_test : int, optional
        Keep only the first ``n_train`` training and ``n_test`` test images.
    n_classes : int, optional
        Number of classes (default: the largest label of either file + 1).
    eval_train_size : int, optional
        Evaluate the per-epoch training error on the first
        ``eval_train_size`` training images only.
    name : str, default "idx_images"
        Name of the task in records and plots.

    Attributes
    ----------
    files : dict of str to pathlib.Path
        The absolute path of each file.
    image_shape : tuple of int
        Shape of one image (``(28, 28)`` for Fashion-MNIST and KMNIST).

    Examples
    --------
    >>> task = IdxImageTask(data_dir="fashion-mnist", verify=False, n_train=10000)  # doctest: +SKIP
    >>> task.n_inputs, task.n_outputs, task.image_shape                             # doctest: +SKIP
    (784, 10, (28, 28))
    """

    def __init__(
        self,
        *,
        data_dir=None,
        train_images=None,
        train_labels=None,
        test_images=None,
        test_labels=None,
        known_hashes=None,
        verify=True,
        n_train=None,
        n_test=None,
        n_classes=None,
        eval_train_size=None,
        name="idx_images",
    ):
        if not isinstance(name, str):
            raise TypeError(f"name must be a str, got {type(name).__name__} {name!r}")
        if not name:
            raise ValueError("name must be a non-empty str, got an empty string")
        sizes = _check_subset_sizes(n_train, n_test)
        if n_classes is not None:
            n_classes = check_positive_int(n_classes, "n_classes")
        files = {
            "train_images": train_images,
            "train_labels": train_labels,
            "test_images": test_images,
            "test_labels": test_labels,
        }
        data, self.files, self.image_shape = _load(data_dir, files, known_hashes, verify)
        self.verified = verify
        if n_classes is None:
            n_classes = int(max(data["y_train"].max(initial=0), data["y_test"].max(initial=0))) + 1
        what = {
            "train": f"training images in {self.files['train_images']}",
            "test": f"test images in {self.files['test_images']}",
        }
        super().__init__(
            *_take_subsets(data, sizes, what), n_classes=n_classes, name=name, eval_train_size=eval_train_size
        )

    def describe(self):
        return {
            **super().describe(),
            "files": {key: str(path) for key, path in self.files.items()},
            "verified": self.verified,
            "image_shape": list(self.image_shape),
            "n_classes": self.n_outputs,
            "eval_train_size": self.eval_train_size,
        }
