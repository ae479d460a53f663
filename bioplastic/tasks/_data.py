"""Data-directory resolution, download and checksum helpers for real data sets.

The real-data loaders (:mod:`bioplastic.tasks.mnist`,
:mod:`bioplastic.tasks.sarcos`, :mod:`bioplastic.tasks.cifar10`) find their
files with the following policy:

1. If a data directory is given -- the ``data_dir`` argument of a loader, or
   else the environment variable ``BIOPLASTIC_DATA_DIR`` -- it is made
   absolute against the current working directory when the loader is called,
   and the files are looked for in the dataset's subfolder(s) of that
   directory (for example ``<dir>/mnist/``) and then directly in ``<dir>``.  Nothing is ever
   downloaded in this mode: a missing file raises :class:`FileNotFoundError`
   whose message names the file, every directory searched, the canonical URL
   and the environment variable.
2. Otherwise the files live in the per-user cache directory
   ``pooch.os_cache("bioplastic")/<dataset subfolder>/``.  With
   ``download=True`` a missing file is downloaded there from its canonical
   URL with :func:`pooch.retrieve` (only when a loader is called, never at
   import time); with ``download=False`` a missing file raises
   :class:`FileNotFoundError`.

Checksums are computed with :func:`file_digest`, which caches its result per
process on ``(path, mtime, size)`` so that repeated loads of the same
unchanged file do not hash it again.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import zlib
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "DATASET_SUBDIRS",
    "ENV_VAR",
    "absolute_path",
    "cache_dir",
    "fetch_file",
    "file_digest",
    "resolve_data_dir",
    "search_dirs",
    "verify_checksum",
]

#: Environment variable naming a local data directory.
ENV_VAR = "BIOPLASTIC_DATA_DIR"

#: Subfolders of a data directory searched for each dataset, in order of
#: preference (the data directory itself is always searched last).  The first
#: entry is also the subfolder of the pooch cache that downloads go to.
DATASET_SUBDIRS: dict[str, tuple[str, ...]] = {
    "mnist": ("mnist",),
    "sarcos": ("sarcos",),
    "cifar10": ("cifar10", "cifar10-lossy-subset"),
    "kriegeskorte92": ("kriegeskorte92",),
}

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path | None:
    """Return the local data directory to read from, or ``None`` for the cache.

    Parameters
    ----------
    data_dir : str, os.PathLike or None
        Explicit data directory.  Takes precedence over the environment.

    Returns
    -------
    pathlib.Path or None
        ``data_dir`` if given; else the value of the environment variable
        ``BIOPLASTIC_DATA_DIR`` if it is set and non-empty; else ``None``,
        meaning "use the pooch cache ``pooch.os_cache('bioplastic')`` and
        download missing files there if allowed".  ``~`` is expanded and a
        relative path is made absolute against the current working directory
        at the time of the call (see :func:`absolute_path`); the directory is
        not required to exist (a loader reports missing files).

    Raises
    ------
    TypeError
        If ``data_dir`` is not ``None``, a string or a path-like object.
    ValueError
        If ``data_dir`` is an empty string.
    """
    return _resolve_with_source(data_dir)[0]


def _resolve_with_source(
    data_dir: str | os.PathLike | None,
) -> tuple[Path | None, str]:
    """Like :func:`resolve_data_dir` but also say where the directory came from."""
    if data_dir is not None:
        if isinstance(data_dir, bytes) or not isinstance(data_dir, (str, os.PathLike)):
            raise TypeError(
                "data_dir must be None, a str or an os.PathLike, got "
                f"{type(data_dir).__name__} {data_dir!r}"
            )
        if os.fspath(data_dir) == "":
            raise ValueError(
                "data_dir must be a non-empty path or None, got an empty string"
            )
        return absolute_path(data_dir), "the data_dir argument"
    env = os.environ.get(ENV_VAR, "")
    if env:
        return absolute_path(env), f"the {ENV_VAR} environment variable"
    return None, "the pooch cache"


def absolute_path(path: str | os.PathLike) -> Path:
    """Expand ``~`` and make ``path`` absolute against the current working directory.

    Called where a data path is read, so that a relative path means the same
    as in the caller's shell at that moment, whatever directory the files are
    opened from later (a notebook kernel, a worker process).

    Parameters
    ----------
    path : str or os.PathLike
        File or directory; it need not exist.

    Returns
    -------
    pathlib.Path
        The absolute path, with ``..`` and symbolic links resolved.
    """
    return Path(path).expanduser().resolve()


def cache_dir() -> Path:
    """Return the root of the download cache, ``pooch.os_cache("bioplastic")``.

    Returns
    -------
    pathlib.Path
        Per-user cache directory (platform dependent; it need not exist yet).

    Raises
    ------
    ImportError
        If :mod:`pooch` is not installed.
    """
    return Path(_import_pooch().os_cache("bioplastic"))


def _import_pooch():
    try:
        import pooch
    except ImportError as exc:  # pragma: no cover - depends on environment
        raise ImportError(
            "Downloading and caching the real data sets needs the 'pooch' "
            "package: install it with `pip install pooch`, or point the "
            f"loader at a local copy of the files with data_dir=... or the "
            f"{ENV_VAR} environment variable."
        ) from exc
    return pooch


def search_dirs(root: str | os.PathLike, dataset: str) -> list[Path]:
    """Directories searched for a dataset's files under ``root``, in order.

    Parameters
    ----------
    root : str or os.PathLike
        Data directory.
    dataset : {"mnist", "sarcos", "cifar10"}
        Dataset key of :data:`DATASET_SUBDIRS`.

    Returns
    -------
    list of pathlib.Path
        ``root / sub`` for each subfolder of the dataset, then ``root``.
    """
    if dataset not in DATASET_SUBDIRS:
        raise ValueError(
            f"unknown dataset {dataset!r}; expected one of {sorted(DATASET_SUBDIRS)}"
        )
    root = Path(root)
    return [root / sub for sub in DATASET_SUBDIRS[dataset]] + [root]


def _find(names: Sequence[str], dirs: Sequence[Path]) -> Path | None:
    for directory in dirs:
        for name in names:
            candidate = directory / name
            if candidate.is_file():
                return candidate
    return None


def _describe_dirs(dirs: Sequence[Path]) -> str:
    lines = []
    for directory in dirs:
        note = "" if directory.is_dir() else "  (directory does not exist)"
        lines.append(f"  - {directory}{note}")
    return "\n".join(lines)


def fetch_file(
    filename: str,
    *,
    dataset: str,
    url: str,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    known_hash: str | None = None,
    alternative_names: Sequence[str] = (),
) -> Path:
    """Locate a data file, downloading it into the cache if allowed.

    Parameters
    ----------
    filename : str
        Canonical file name, e.g. ``"train-images-idx3-ubyte.gz"``.
    dataset : {"mnist", "sarcos", "cifar10"}
        Dataset key; selects the subfolders searched (:data:`DATASET_SUBDIRS`).
    url : str
        Canonical download URL of ``filename`` (also quoted in error messages).
    data_dir : str, os.PathLike or None, optional
        Local data directory (see :func:`resolve_data_dir`).  When it (or the
        environment variable) is set, nothing is downloaded.
    download : bool, optional
        Whether a file missing from the cache may be downloaded.  Ignored when
        a local data directory is in use.
    known_hash : str or None, optional
        Hash of the canonical file in :func:`pooch.retrieve` syntax
        (``"sha256:<hex>"``, ``"md5:<hex>"``, or a bare sha256 hex string), or
        ``None`` if unknown.  Used only for files in the cache: pooch checks
        downloads (and existing cached files when ``download=True``) against
        it, and with ``download=False`` a cached file is checked here.  Files
        in a local data directory are *not* checked here; loaders verify them
        themselves where appropriate.
    alternative_names : sequence of str, optional
        Other accepted local file names (e.g. the uncompressed variant),
        searched after ``filename`` in each directory.

    Returns
    -------
    pathlib.Path
        Path of an existing file.

    Raises
    ------
    FileNotFoundError
        If the file is in none of the searched directories and cannot be
        downloaded (local data directory given, or ``download=False``).  The
        message names the file, every directory searched, the canonical URL
        and the ``BIOPLASTIC_DATA_DIR`` environment variable.
    ValueError
        If a cached file does not match ``known_hash`` (``download=False``) or
        pooch rejects a download.
    TypeError
        If ``download`` is not a bool or ``data_dir`` has a bad type.
    ImportError
        If pooch is needed (no local data directory) but not installed.
    """
    if not isinstance(download, bool):
        raise TypeError(
            f"download must be a bool, got {type(download).__name__} {download!r}"
        )
    names = [filename, *alternative_names]
    root, source = _resolve_with_source(data_dir)
    if root is not None:
        dirs = search_dirs(root, dataset)
        found = _find(names, dirs)
        if found is not None:
            return found
        raise FileNotFoundError(
            _missing_message(
                names, dirs, url,
                f"Data directory {root} (from {source}) does not contain it; "
                "nothing is downloaded when a local data directory is given.",
            )
        )

    cache_root = cache_dir()
    dirs = search_dirs(cache_root, dataset)
    if not download:
        found = _find(names, dirs)
        if found is None:
            raise FileNotFoundError(
                _missing_message(
                    names, dirs, url,
                    "It is not in the download cache and download=False; call "
                    "the loader with download=True to download it into the "
                    "cache.",
                )
            )
        if known_hash is not None and found.name == filename:
            verify_checksum(found, known_hash)
        return found

    pooch = _import_pooch()
    target_dir = dirs[0]
    fname = pooch.retrieve(
        url,
        known_hash=known_hash,
        fname=filename,
        path=target_dir,
        progressbar=False,
    )
    return Path(fname)


def _missing_message(
    names: Sequence[str], dirs: Sequence[Path], url: str, reason: str
) -> str:
    alternatives = ""
    if len(names) > 1:
        alternatives = " (or " + ", ".join(repr(n) for n in names[1:]) + ")"
    return (
        f"Data file {names[0]!r}{alternatives} not found. {reason}\n"
        f"Directories searched:\n{_describe_dirs(dirs)}\n"
        f"To get it, download {url} into one of these directories, and pass "
        f"that directory's parent (or the directory itself) as data_dir=... or "
        f"set the {ENV_VAR} environment variable to it; or leave both unset "
        "and call the loader with download=True to download it into the "
        "pooch cache automatically."
    )


def _parse_hash(known_hash: str) -> tuple[str, str]:
    if not isinstance(known_hash, str) or not known_hash:
        raise TypeError(f"known hash must be a non-empty str, got {known_hash!r}")
    if ":" in known_hash:
        algorithm, hexdigest = known_hash.split(":", 1)
    else:
        algorithm, hexdigest = "sha256", known_hash
    algorithm = algorithm.lower()
    if algorithm not in hashlib.algorithms_available:
        raise ValueError(
            f"unknown hash algorithm {algorithm!r} in {known_hash!r}; expected "
            "e.g. 'sha256:<hex>' or 'md5:<hex>'"
        )
    return algorithm, hexdigest.lower()


def file_digest(
    path: str | os.PathLike,
    *,
    algorithm: str = "sha256",
    decompress: bool = False,
) -> str:
    """Hex digest of a file, cached per process on ``(path, mtime, size)``.

    Parameters
    ----------
    path : str or os.PathLike
        File to hash.
    algorithm : str, optional
        Any :mod:`hashlib` algorithm name (default ``"sha256"``).
    decompress : bool, optional
        If true and the file is gzip-compressed (detected from its magic
        bytes, not its name), hash the decompressed content instead of the
        raw bytes.  Uncompressed files are hashed as they are.

    Returns
    -------
    str
        Lower-case hexadecimal digest.

    Raises
    ------
    ValueError
        If ``decompress`` is true and the gzip stream is corrupt or truncated.
    """
    path = Path(path).resolve()
    stat = path.stat()
    return _digest_cached(
        str(path), stat.st_mtime_ns, stat.st_size, algorithm.lower(), bool(decompress)
    )


@functools.lru_cache(maxsize=64)
def _digest_cached(
    path: str, mtime_ns: int, size: int, algorithm: str, decompress: bool
) -> str:
    del mtime_ns, size  # only part of the cache key
    hasher = hashlib.new(algorithm)
    with open(path, "rb") as raw:
        compressed = decompress and raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        stream = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
        try:
            while chunk := stream.read(_CHUNK):
                hasher.update(chunk)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(
                f"{path}: corrupt or truncated gzip file ({exc}); delete it and "
                "download or copy it again"
            ) from exc
    return hasher.hexdigest()


_DEFAULT_ADVICE = (
    "The file is corrupted, incomplete or not the canonical file; delete it "
    "and download or copy it again."
)


def verify_checksum(
    path: str | os.PathLike,
    known_hash: str,
    *,
    decompress: bool = False,
    advice: str | None = None,
) -> None:
    """Check a file against a known hash.

    Parameters
    ----------
    path : str or os.PathLike
        File to check.
    known_hash : str
        ``"<algorithm>:<hex>"`` (e.g. ``"sha256:..."``, ``"md5:..."``) or a
        bare sha256 hex string.
    decompress : bool, optional
        Check the decompressed content of a gzip file (see :func:`file_digest`).
    advice : str or None, optional
        What the message of a mismatch tells the user to do; default: the
        file is corrupted, incomplete or not the canonical file, delete it and
        download or copy it again.

    Raises
    ------
    ValueError
        If the digest differs; the message names the file and gives the
        expected and actual digests, then ``advice``.
    """
    algorithm, expected = _parse_hash(known_hash)
    actual = file_digest(path, algorithm=algorithm, decompress=decompress)
    if actual != expected:
        what = "decompressed content" if decompress else "content"
        raise ValueError(
            f"Checksum mismatch for {Path(path)}: the {what} has {algorithm} "
            f"{actual}, expected {algorithm} {expected}. "
            + (advice or _DEFAULT_ADVICE)
        )

