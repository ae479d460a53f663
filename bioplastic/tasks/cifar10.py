"""CIFAR-10 (32x32 colour images, 10 classes): the loader of the binary-version tarball and the task.

The tarball is read member by member with :mod:`tarfile` (nothing is
extracted to disk and nothing is unpickled).  See :func:`load_cifar10` for
where it is looked for and how it is verified, :class:`Cifar10Task` for the
classification task built on it (per-channel standardisation, optional
random crops and flips) and :func:`crop_and_flip` for the augmentation.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import numpy as np

from .._validation import check_positive_int
from ._data import fetch_file, file_digest
from .base import DatasetTask
from .idx_images import _check_subset_sizes, _take_subsets

__all__ = [
    "CIFAR10_LABEL_NAMES",
    "CIFAR10_LOSSY_SUBSET_DIR",
    "CIFAR10_MD5",
    "CIFAR10_PROVENANCE",
    "CIFAR10_TARBALL",
    "CIFAR10_URL",
    "Cifar10Task",
    "crop_and_flip",
    "load_cifar10",
]

#: File name of the binary-version tarball.
CIFAR10_TARBALL = "cifar-10-binary.tar.gz"
#: Canonical URL of the binary-version tarball.
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
#: md5 of the canonical tarball, published on the CIFAR-10 home page.
CIFAR10_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"
#: Class names of labels 0-9 (used when the tarball has no batches.meta.txt).
CIFAR10_LABEL_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

#: Folder of a data directory that holds the offline lossy subset.
CIFAR10_LOSSY_SUBSET_DIR = "cifar10-lossy-subset"
#: What each ``"provenance"`` of :func:`load_cifar10` means (the task's ``describe()`` quotes it).
CIFAR10_PROVENANCE = {
    "canonical": "the canonical CIFAR-10 binary tarball (md5 verified)",
    "lossy_subset": (
        "the offline lossy subset of CIFAR-10 (folder cifar10-lossy-subset: a class-balanced set of 10,000 training "
        "and 2,000 test images decoded from a JPEG re-encoding; lossy pixels, real labels: for pipeline and learning "
        "tests, not for headline accuracies)"
    ),
    "local": "a local non-canonical CIFAR-10 tarball (its md5 differs from the canonical one; structure validated only)",
}

_PREFIX = "cifar-10-batches-bin/"
_TRAIN_MEMBERS = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
_TEST_MEMBER = "test_batch.bin"
_META_MEMBER = "batches.meta.txt"
_IMAGE_BYTES = 3 * 32 * 32
_RECORD_BYTES = 1 + _IMAGE_BYTES


def _member_key(name: str) -> str:
    """Map a tar member name to its name inside ``cifar-10-batches-bin/``."""
    name = name.removeprefix("./")
    return name.removeprefix(_PREFIX)


def _decode_batch(
    buffer: bytes, source: str
) -> tuple[np.ndarray, np.ndarray]:
    if len(buffer) == 0 or len(buffer) % _RECORD_BYTES:
        raise ValueError(
            f"{source}: {len(buffer)} bytes is not a positive multiple of the "
            f"{_RECORD_BYTES}-byte record size (1 label byte + {_IMAGE_BYTES} "
            "pixel bytes)"
        )
    records = np.frombuffer(buffer, dtype=np.uint8).reshape(-1, _RECORD_BYTES)
    labels = records[:, 0].astype(np.int64)
    if labels.max() > 9:
        bad = int(np.flatnonzero(labels > 9)[0])
        raise ValueError(
            f"{source}: record {bad} has label {labels[bad]}, expected 0-9"
        )
    pixels = records[:, 1:].reshape(-1, 3, 32, 32)
    return pixels, labels


def _to_float(batches: list[np.ndarray]) -> np.ndarray:
    n = sum(b.shape[0] for b in batches)
    x = np.empty((n, 3, 32, 32), dtype=np.float64)
    start = 0
    for b in batches:
        x[start:start + b.shape[0]] = b
        start += b.shape[0]
    x /= 255.0
    return x


def load_cifar10(
    data_dir: str | os.PathLike | None = None, *, download: bool = True
) -> dict[str, object]:
    """Load CIFAR-10 from the binary-version tarball ``cifar-10-binary.tar.gz``.

    The tarball holds ``cifar-10-batches-bin/data_batch_{1..5}.bin`` and
    ``cifar-10-batches-bin/test_batch.bin``, each a sequence of 3,073-byte
    records: one label byte (0-9) then 3,072 pixel bytes, the red, green and
    blue 32x32 planes in that order, each row-major.  Whichever training
    batches are present are read (in the order 1..5), so a local subset with
    only ``data_batch_1.bin`` works; ``test_batch.bin`` is required.

    The tarball is looked for in ``<data_dir>/cifar10/``, then
    ``<data_dir>/cifar10-lossy-subset/``, then directly in ``<data_dir>``.
    ``data_dir`` defaults to the environment variable ``BIOPLASTIC_DATA_DIR``;
    if neither is set the pooch cache ``pooch.os_cache("bioplastic")/cifar10/``
    is used and, when ``download`` is true, the canonical tarball is
    downloaded from :data:`CIFAR10_URL` and verified against its published
    md5 (:data:`CIFAR10_MD5`).

    Tarballs in a local data directory are **not** checksum-verified: a
    local directory may legitimately hold a re-encoded or subset tarball
    (such as the class-balanced, JPEG-lossy 10,000/2,000-image subset used
    for offline testing), which cannot match the canonical checksum.  Its
    structure is still validated (record sizes, labels 0-9).

    Parameters
    ----------
    data_dir : str, os.PathLike or None, optional
        Local data directory; nothing is downloaded when it (or
        ``BIOPLASTIC_DATA_DIR``) is given.
    download : bool, optional
        Whether the tarball may be downloaded into the pooch cache.

    Returns
    -------
    dict
        ``"x_train"``
            float64 array, shape (n_train, 3, 32, 32): pixel intensities in
            [0, 1] (raw uint8 / 255), channels (R, G, B), then rows and
            columns.  ``n_train`` is 50,000 for the canonical tarball.
        ``"y_train"``
            int64 array, shape (n_train,): class labels 0-9.
        ``"x_test"``
            float64 array, shape (n_test, 3, 32, 32); 10,000 canonically.
        ``"y_test"``
            int64 array, shape (n_test,).
        ``"label_names"``
            list of str, the class name of each label: the non-empty lines of
            ``batches.meta.txt`` if the tarball has it, else
            :data:`CIFAR10_LABEL_NAMES`.
        ``"path"``
            str, the tarball read.
        ``"provenance"``
            ``"canonical"`` (its md5 is :data:`CIFAR10_MD5`), else
            ``"lossy_subset"`` (it lies in a folder named
            :data:`CIFAR10_LOSSY_SUBSET_DIR`, the offline JPEG-lossy
            10,000/2,000-image subset) or ``"local"`` (any other copy); see
            :data:`CIFAR10_PROVENANCE`.

    Raises
    ------
    FileNotFoundError
        If the tarball is missing and cannot be downloaded; the message lists
        the directories searched, the canonical URL and the environment
        variable.
    ValueError
        If the tarball is unreadable, has no training batch or no test batch,
        a batch is not a whole number of records, a label is outside 0-9, or
        ``batches.meta.txt`` does not list 10 names; or if a downloaded
        tarball fails its md5 check.
    ImportError
        If pooch is needed (no data directory given) but not installed.
    """
    path = fetch_file(
        CIFAR10_TARBALL,
        dataset="cifar10",
        url=CIFAR10_URL,
        data_dir=data_dir,
        download=download,
        known_hash="md5:" + CIFAR10_MD5,  # checks cached/downloaded files only
    )
    return {**_read_tarball(path), "path": str(path), "provenance": _provenance(path)}


def _provenance(path: Path) -> str:
    """``"canonical"``, ``"lossy_subset"`` or ``"local"`` (see :data:`CIFAR10_PROVENANCE`)."""
    if file_digest(path, algorithm="md5") == CIFAR10_MD5:
        return "canonical"
    if Path(path).parent.name == CIFAR10_LOSSY_SUBSET_DIR:
        return "lossy_subset"
    return "local"


def _read_tarball(path: Path) -> dict[str, object]:
    wanted = set(_TRAIN_MEMBERS) | {_TEST_MEMBER, _META_MEMBER}
    found: dict[str, bytes] = {}
    try:
        # Iterate once, in archive order: random access into a gzip stream
        # would re-decompress from the start for every backward seek.
        with tarfile.open(path, mode="r:gz") as tar:
            for member in tar:
                key = _member_key(member.name)
                if key in wanted and member.isfile() and key not in found:
                    handle = tar.extractfile(member)
                    if handle is not None:
                        found[key] = handle.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ValueError(f"{path}: cannot read as a .tar.gz archive ({exc})") from exc

    train_names = [name for name in _TRAIN_MEMBERS if name in found]
    missing = []
    if not train_names:
        missing.append(_PREFIX + "data_batch_{1..5}.bin (at least one)")
    if _TEST_MEMBER not in found:
        missing.append(_PREFIX + _TEST_MEMBER)
    if missing:
        raise ValueError(
            f"{path}: not a CIFAR-10 binary-version tarball: missing "
            f"{', '.join(missing)}; found members {sorted(found)}"
        )

    train = [_decode_batch(found[n], f"{path}:{_PREFIX}{n}") for n in train_names]
    x_test_u8, y_test = _decode_batch(
        found[_TEST_MEMBER], f"{path}:{_PREFIX}{_TEST_MEMBER}"
    )

    if _META_MEMBER in found:
        text = found[_META_MEMBER].decode("utf-8", errors="replace")
        label_names = [line.strip() for line in text.splitlines() if line.strip()]
        if len(label_names) != 10:
            raise ValueError(
                f"{path}:{_PREFIX}{_META_MEMBER}: expected 10 class names, got "
                f"{len(label_names)}: {label_names}"
            )
    else:
        label_names = list(CIFAR10_LABEL_NAMES)

    return {
        "x_train": _to_float([b[0] for b in train]),
        "y_train": np.concatenate([b[1] for b in train]),
        "x_test": _to_float([x_test_u8]),
        "y_test": y_test,
        "label_names": label_names,
    }


# --------------------------------------------------------------------------
# augmentation and the task object
# --------------------------------------------------------------------------


def crop_and_flip(images, offsets, flips, *, padding=4):
    """Crop each zero-padded image at its offset, then mirror the flagged ones left to right.

    Each image is padded with ``padding`` zeros on every side, the window of
    the image's own size starting at row ``offsets[n, 0]`` and column
    ``offsets[n, 1]`` of the padded image is taken, and it is flipped
    horizontally (columns reversed) where ``flips[n]`` is true: the random
    crop and flip of the standard CIFAR-10 augmentation, given its draws.

    Parameters
    ----------
    images : ndarray of shape (n, channels, height, width)
    offsets : ndarray of int, shape (n, 2)
        Row and column of each window's top-left corner in the padded image,
        in ``[0, 2 * padding]``; ``(padding, padding)`` is the image itself.
    flips : ndarray of bool, shape (n,)
    padding : int, default 4

    Returns
    -------
    ndarray of shape (n, channels, height, width)
        A new array, of ``images``' dtype.

    Raises
    ------
    ValueError
        If the shapes do not match or an offset lies outside ``[0, 2 * padding]``.
    """
    images = np.asarray(images)
    offsets, flips = np.asarray(offsets), np.asarray(flips, dtype=bool)
    padding = int(padding)
    if images.ndim != 4:
        raise ValueError(f"images should have shape (n, channels, height, width), got {images.shape}")
    n, _, height, width = images.shape
    if offsets.shape != (n, 2) or flips.shape != (n,):
        raise ValueError(f"offsets should have shape ({n}, 2) and flips ({n},) for {n} images, "
                         f"got {offsets.shape} and {flips.shape}")
    if offsets.size and (offsets.min() < 0 or offsets.max() > 2 * padding):
        raise ValueError(f"offsets should lie in [0, {2 * padding}] (padding {padding}), "
                         f"got values in [{offsets.min()}, {offsets.max()}]")
    padded = np.pad(images, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    rows = offsets[:, 0, None] + np.arange(height)  # (n, height)
    columns = np.arange(width)
    columns = offsets[:, 1, None] + np.where(flips[:, None], columns[::-1], columns)  # (n, width)
    samples = np.arange(n)[:, None, None, None]
    return padded[samples, np.arange(images.shape[1])[None, :, None, None], rows[:, None, :, None], columns[:, None, None, :]]


class Cifar10Task(DatasetTask):
    """CIFAR-10 classification as a :class:`~bioplastic.tasks.Task`, for convolutional networks.

    Inputs are the 3,072 values of each image, flat and channel-major (the
    red, green and blue 32x32 planes, each row-major: the layout
    ``models.cnn((3, 32, 32), ...)`` reads), standardised per channel with
    the training set's mean and standard deviation (over its images, rows
    and columns; the test images are standardised with the same numbers);
    targets are one-hot vectors of the 10 classes (``is_classification``
    is true, so training records ``test_accuracy``).

    With ``augment=True`` every epoch's minibatches are randomly cropped and
    flipped (:func:`crop_and_flip`): each image is padded with 4 zeros on
    every side (zero is the training set's mean colour after the
    standardisation), a 32x32 window is taken at a uniformly drawn offset
    (81 positions) and mirrored left to right with probability 1/2. The
    offsets and flips of the whole epoch are drawn, after its shuffle, from
    the ``rng`` that :meth:`batches` is given (the training loop's data
    stream), so a run is reproducible for its ``data_seed`` and resumes bit
    for bit. The evaluation sets are never augmented.

    Parameters
    ----------
    data_dir : str, os.PathLike or None, optional
        Local data directory (default: ``BIOPLASTIC_DATA_DIR``, else the
        download cache); see :func:`load_cifar10`.
    download : bool, default True
    n_train : int, optional
        Keep only the first ``n_train`` training images (in the tarball's
        order); the standardisation uses these.
    n_test : int, optional
        Keep only the first ``n_test`` test images.
    augment : bool, default False
        Random crops and flips of the training minibatches.
    eval_train_size : int, optional
        Evaluate the per-epoch training error and accuracy on the first
        ``eval_train_size`` training images only.

    Attributes
    ----------
    channel_mean, channel_std : ndarray of shape (3,)
        The training set's per-channel mean and standard deviation of the
        pixel intensities in [0, 1] (raw uint8 / 255).
    provenance : str
        ``"canonical"``, ``"lossy_subset"`` or ``"local"``
        (:data:`CIFAR10_PROVENANCE`); ``describe()`` states it in words.

    Examples
    --------
    >>> task = Cifar10Task(n_train=1000, n_test=500, augment=True)  # doctest: +SKIP
    >>> task.n_inputs, task.n_outputs, task.image_shape  # doctest: +SKIP
    (3072, 10, (3, 32, 32))
    """

    image_shape = (3, 32, 32)
    #: zeros added on every side before a random crop
    padding = 4

    def __init__(self, data_dir=None, *, download=True, n_train=None, n_test=None, augment=False, eval_train_size=None):
        sizes = _check_subset_sizes(n_train, n_test)
        if not isinstance(augment, (bool, np.bool_)):
            raise TypeError(f"augment should be True or False, got {augment!r}")
        if eval_train_size is not None:
            eval_train_size = check_positive_int(eval_train_size, "eval_train_size")
        data = load_cifar10(data_dir, download=download)
        what = {"train": "CIFAR-10 training images", "test": "CIFAR-10 test images"}
        x_train, y_train, x_test, y_test = _take_subsets(data, sizes, what)
        mean = x_train.mean(axis=(0, 2, 3))
        std = x_train.std(axis=(0, 2, 3))
        if np.any(std == 0):
            raise ValueError(f"the {len(x_train)} training images have a constant channel (std {std.tolist()}); "
                             "per-channel standardisation needs varying pixels")
        scale = (slice(None), None, None)
        x_train = ((x_train - mean[scale]) / std[scale]).reshape(len(x_train), -1)
        x_test = ((x_test - mean[scale]) / std[scale]).reshape(len(x_test), -1)
        super().__init__(x_train, y_train, x_test, y_test, n_classes=10, name="cifar10", eval_train_size=eval_train_size)
        self.channel_mean, self.channel_std = mean, std
        self.augment = bool(augment)
        self.path, self.provenance = data["path"], data["provenance"]
        self.label_names = list(data["label_names"])

    def batches(self, batch_size, rng):
        """Shuffle the training set with ``rng`` and yield full minibatches, cropped and flipped if ``augment``.

        The order is drawn first (as :class:`~bioplastic.tasks.DatasetTask`
        does, so without augmentation the minibatches are the same), then
        the epoch's crop offsets and flips, one per training image.
        """
        if not self.augment:
            yield from super().batches(batch_size, rng)
            return
        n = self.n_batches(batch_size)
        order = rng.permutation(self.n_train)
        offsets = rng.integers(0, 2 * self.padding + 1, size=(self.n_train, 2))
        flips = rng.random(self.n_train) < 0.5
        for i in range(n):
            idx = order[i * batch_size : (i + 1) * batch_size]
            images = self.x_train[idx].reshape(len(idx), *self.image_shape)
            x = crop_and_flip(images, offsets[idx], flips[idx], padding=self.padding)
            yield x.reshape(len(idx), -1), self.y_train[idx]

    def describe(self):
        augmentation = (f"random 32x32 crops of the images zero-padded by {self.padding} pixels (uniform offsets) and "
                        "horizontal flips with probability 1/2, drawn per epoch from the data stream") if self.augment else None
        return {**super().describe(), "eval_train_size": self.eval_train_size, "image_shape": list(self.image_shape),
                "standardisation": "per channel: (x - mean) / std, with the training set's mean and std of the pixel "
                                   "intensities in [0, 1] (the test set uses the same)",
                "channel_mean": self.channel_mean.tolist(), "channel_std": self.channel_std.tolist(),
                "augment": self.augment, "augmentation": augmentation, "provenance": self.provenance,
                "data": CIFAR10_PROVENANCE[self.provenance], "path": self.path}
