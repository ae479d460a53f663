"""CIFAR-10 (32x32 colour images, 10 classes) from the binary-version tarball.

The tarball is read member by member with :mod:`tarfile` (nothing is
extracted to disk and nothing is unpickled).  See :func:`load_cifar10`.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import numpy as np

from ._data import fetch_file

__all__ = [
    "CIFAR10_LABEL_NAMES",
    "CIFAR10_MD5",
    "CIFAR10_TARBALL",
    "CIFAR10_URL",
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
    return _read_tarball(path)


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
