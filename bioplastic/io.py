"""Atomic, pickle-free storage of result pairs: arrays in ``.npz``, metadata in ``.json``.

A *pair* with stem ``P`` is the two files ``P.npz`` (arrays) and ``P.json``
(metadata). The suffixes are appended to the stem, so a stem with dots keeps
them (``run.checkpoint`` -> ``run.checkpoint.npz``); a path that ends in
``.npz`` or ``.json`` names the pair of its stem.

Both files carry the identifier of the save that wrote them: a random
``uuid4`` stored in the ``.npz`` as the array ``storage_id`` and in the
``.json`` under ``"storage"``, together with the SHA-256 of the ``.npz``
bytes. Loading checks both and names the two files when they disagree.

Write protocol
--------------
A kill at any instant leaves either the previous pair or the new one. The
``.json`` is the commit point: the pair is what ``P.json`` says, and its
arrays are in ``P.npz`` or, for a moment, in the backup ``.P.npz.prev``::

    1. write the new arrays to a temporary file beside P.npz, fsync
    2. write the new metadata to a temporary file beside P.json, fsync
    3. if P.npz belongs to P.json, rename it to the backup .P.npz.prev
       (if it does not, a kill interrupted an earlier save and the arrays
       of P.json are already the backup, which is kept)
    4. rename the temporary arrays to P.npz
    5. rename the temporary metadata to P.json          (commit)
    6. remove the backup

Each rename is followed by an fsync of the folder. Loading reads ``P.json``
and takes the ``.npz`` whose identifier it records: ``P.npz``, or the backup
after a kill between steps 3 and 5. A pair exists when ``P.json`` does; a
``P.npz`` without it is what a kill left of a first save. Temporary files
(``.P.npz.<hex>.tmp``) that a kill left in steps 1-2 are removed by the next
save of the same stem. Files are created with the mode the process's umask
gives (``0o644`` under the usual ``0o022``).

Pairs written before identifiers were introduced (neither file holds one)
load without the check.
"""

from __future__ import annotations

import hashlib
import io as _io
import json
import os
import re
import uuid
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

__all__ = [
    "atomic_write_bytes", "copy_pair", "load_arrays_and_metadata", "package_versions", "pair_exists", "pair_paths",
    "remove_pair", "save_arrays_and_metadata", "to_jsonable",
]

#: name of the identifier array in the .npz and of the identifier entry in the .json
_ID_ARRAY = "storage_id"
_STORAGE_KEY = "storage"
_FORMAT = 1


def _fsync_dir(folder):
    """Make the renames in ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - file systems without directory fsync
        pass
    finally:
        os.close(fd)


def _temporary_name(path):
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")


def _write_temporary(path, data):
    """Write ``data`` to a new temporary file beside ``path`` (mode from the umask), fsync it; return its path."""
    tmp = _temporary_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def atomic_write_bytes(path, data):
    """Write ``data`` to ``path`` atomically: a temporary file in the same folder, fsync, then rename.

    The file gets the mode the process's umask gives (``0o666 & ~umask``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _write_temporary(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def to_jsonable(value):
    """Convert numpy scalars/arrays and tuples recursively into JSON-serialisable values."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return repr(value)
    return value


def _stem(path):
    path = Path(path)
    return path.with_name(path.name[: -len(path.suffix)]) if path.suffix in (".npz", ".json") else path


def pair_paths(path):
    """The ``(npz, json)`` paths of the pair with stem ``path`` (a trailing ``.npz``/``.json`` names its stem).

    Examples
    --------
    >>> [str(p) for p in pair_paths("out/run.checkpoint")]
    ['out/run.checkpoint.npz', 'out/run.checkpoint.json']
    """
    stem = _stem(path)
    return stem.with_name(stem.name + ".npz"), stem.with_name(stem.name + ".json")


def _backup_path(npz_path):
    return npz_path.with_name(f".{npz_path.name}.prev")


def pair_exists(path):
    """Whether a pair was saved at ``path`` (its ``.json``, the commit point, exists)."""
    return pair_paths(path)[1].exists()


def _read_json(json_path):
    """``(metadata, storage)`` of a pair's .json; ``storage`` is None for a pair without identifier."""
    try:
        text = json_path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{json_path} is not a text file: {error}") from None
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{json_path} is not valid JSON (truncated or edited?): {error}") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{json_path} should hold a JSON object of metadata, got a JSON {type(meta).__name__}")
    storage = meta.pop(_STORAGE_KEY, None)
    if storage is not None:
        if not (isinstance(storage, dict) and isinstance(storage.get("id"), str) and isinstance(storage.get("npz_sha256"), str)):
            raise ValueError(f"{json_path}: {_STORAGE_KEY!r} should be an object with the strings 'id' and 'npz_sha256', "
                             f"got {storage!r}")
    return meta, storage


def _npz_arrays(data, npz_path):
    """Arrays and identifier of the .npz bytes ``data``; ValueError naming ``npz_path`` if unreadable."""
    try:
        npz = np.load(_io.BytesIO(data), allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise ValueError(f"{npz_path} is not a readable .npz file: it holds a single array, not an archive of arrays")
        with npz:
            arrays = {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, EOFError, OSError, KeyError) as error:
        raise ValueError(f"{npz_path} is not a readable .npz file (truncated or corrupted?): {error}") from None
    except ValueError as error:
        if str(error).startswith(str(npz_path)):
            raise
        raise ValueError(f"{npz_path} is not a readable .npz file (truncated or corrupted?): {error}") from None
    pair_id = arrays.pop(_ID_ARRAY, None)
    if pair_id is not None:
        pair_id = str(pair_id[()]) if pair_id.ndim == 0 and pair_id.dtype.kind == "U" else repr(pair_id)
    return arrays, pair_id


def _npz_id(npz_path):
    """Identifier stored in ``npz_path``; None if it has none, cannot be read or does not exist."""
    try:
        # the file opened here, so that it is closed also when numpy cannot read it (a truncated npz)
        with open(npz_path, "rb") as handle, np.load(handle, allow_pickle=False) as npz:
            if _ID_ARRAY not in npz.files:
                return None
            value = npz[_ID_ARRAY]
    except (TypeError, AttributeError, zipfile.BadZipFile, ValueError, EOFError, OSError, KeyError):
        return None
    return str(value[()]) if value.ndim == 0 and value.dtype.kind == "U" else None


def _committed_id(json_path):
    """``(committed, id)``: whether ``json_path`` holds readable metadata, and the identifier it records."""
    try:
        _, storage = _read_json(json_path)
    except (OSError, ValueError):
        return False, None
    return True, None if storage is None else storage["id"]


def _check_arrays(arrays):
    out = {}
    for k, v in arrays.items():
        if not isinstance(k, str) or not k:
            raise TypeError(f"array names should be non-empty strings, got {k!r}")
        if k == _ID_ARRAY:
            raise ValueError(f"the array name {_ID_ARRAY!r} is reserved for the pair's identifier")
        v = np.asarray(v)
        if v.dtype == object:
            raise TypeError(f"array {k!r} has dtype object; only numeric or string arrays can be saved without pickle")
        out[k] = v
    return out


def _remove_temporaries(*paths):
    """Remove temporary files that a killed save of these paths left behind."""
    for path in paths:
        pattern = re.compile(rf"\.{re.escape(path.name)}\.[0-9a-f]{{32}}\.tmp")
        try:
            candidates = list(path.parent.iterdir())
        except OSError:  # pragma: no cover
            return
        for candidate in candidates:
            if pattern.fullmatch(candidate.name):
                candidate.unlink(missing_ok=True)


def save_arrays_and_metadata(path, arrays, metadata):
    """Save ``arrays`` to ``<path>.npz`` and ``metadata`` to ``<path>.json`` as one pair.

    The two files share an identifier and are written so that a kill at any
    instant leaves the previous pair or the new one (see the module
    docstring). No pickling: arrays must be numeric or strings.

    Parameters
    ----------
    path : path
        Stem of the pair; a trailing ``.npz``/``.json`` is dropped, other
        suffixes are kept.
    arrays : mapping of str to array_like
    metadata : mapping
        JSON-serialisable after :func:`to_jsonable`; the key ``"storage"`` is
        reserved.

    Returns
    -------
    npz_path, json_path : Path
    """
    npz_path, json_path = pair_paths(path)
    arrays = _check_arrays(arrays)
    if not isinstance(metadata, Mapping):
        raise TypeError(f"metadata should be a mapping, got {type(metadata).__name__}")
    if _STORAGE_KEY in metadata:
        raise ValueError(f"the metadata key {_STORAGE_KEY!r} is reserved for the pair's identifier")
    pair_id = uuid.uuid4().hex
    buffer = _io.BytesIO()
    np.savez(buffer, **arrays, **{_ID_ARRAY: np.array(pair_id)})
    data = buffer.getvalue()
    meta = dict(to_jsonable(dict(metadata)))
    meta[_STORAGE_KEY] = {"format": _FORMAT, "id": pair_id, "npz": npz_path.name, "npz_sha256": hashlib.sha256(data).hexdigest()}
    text = json.dumps(meta, indent=1, sort_keys=True).encode()

    folder = npz_path.parent
    folder.mkdir(parents=True, exist_ok=True)
    _remove_temporaries(npz_path, json_path)
    backup = _backup_path(npz_path)
    tmp_npz = _write_temporary(npz_path, data)
    try:
        tmp_json = _write_temporary(json_path, text)
        try:
            committed, committed_id = _committed_id(json_path)
            if committed and npz_path.exists() and _npz_id(npz_path) == committed_id:
                os.replace(npz_path, backup)  # step 3: the current pair's arrays stay loadable from the backup
                _fsync_dir(folder)
            os.replace(tmp_npz, npz_path)  # step 4
            _fsync_dir(folder)
            os.replace(tmp_json, json_path)  # step 5: commit
            _fsync_dir(folder)
        except BaseException:
            tmp_json.unlink(missing_ok=True)
            raise
    except BaseException:
        tmp_npz.unlink(missing_ok=True)
        raise
    backup.unlink(missing_ok=True)  # step 6
    return npz_path, json_path


def load_arrays_and_metadata(path):
    """Load a pair written by :func:`save_arrays_and_metadata`; returns ``(arrays, metadata)``.

    Raises
    ------
    FileNotFoundError
        If the ``.json`` or every ``.npz`` of the pair is missing.
    ValueError
        If a file cannot be read or the two files are not one pair (the
        message names the files and what is wrong).
    """
    npz_path, json_path = pair_paths(path)
    if not json_path.exists():
        raise FileNotFoundError(f"missing result file {json_path} (expected a .npz/.json pair at {_stem(path)})")
    meta, storage = _read_json(json_path)
    want = None if storage is None else storage["id"]
    first_error = None
    found = False
    for candidate in (npz_path, _backup_path(npz_path)):
        try:
            data = candidate.read_bytes()
        except FileNotFoundError:
            continue
        found = True
        try:
            arrays, got = _npz_arrays(data, candidate)
        except ValueError as error:
            first_error = first_error or error
            continue
        if got == want:
            digest = hashlib.sha256(data).hexdigest()
            if storage is not None and digest != storage["npz_sha256"]:
                raise ValueError(f"{candidate} does not match {json_path}: the .npz has the pair's identifier but not the "
                                 f"content the .json records (SHA-256 {digest}, expected {storage['npz_sha256']}); "
                                 "it was changed after saving")
            return arrays, meta
        first_error = first_error or ValueError(
            f"{candidate} and {json_path} are not one pair: the .npz has identifier {got!r}, the .json {want!r} "
            "(files of different saves)")
    if not found:
        raise FileNotFoundError(f"missing result file {npz_path} (expected a .npz/.json pair at {_stem(path)})")
    raise first_error


def copy_pair(src, dst):
    """Copy the pair at stem ``src`` to stem ``dst`` (checked on reading, written as a new pair)."""
    arrays, meta = load_arrays_and_metadata(src)
    return save_arrays_and_metadata(dst, arrays, meta)


def remove_pair(path):
    """Remove the pair at stem ``path`` (its ``.json`` first, so a kill leaves no pair), its backup and temporaries."""
    npz_path, json_path = pair_paths(path)
    json_path.unlink(missing_ok=True)
    npz_path.unlink(missing_ok=True)
    _backup_path(npz_path).unlink(missing_ok=True)
    if npz_path.parent.exists():
        _remove_temporaries(npz_path, json_path)


def package_versions():
    """Versions of the packages a result depends on."""
    import platform

    versions = {"python": platform.python_version(), "numpy": np.__version__}
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover
        return versions
    for name in ("bioplastic", "scipy", "matplotlib", "brian2"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions
