"""Atomic, pickle-free storage: arrays in ``.npz``, metadata in ``.json``."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["atomic_write_bytes", "load_arrays_and_metadata", "package_versions", "save_arrays_and_metadata", "to_jsonable"]


def atomic_write_bytes(path, data):
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


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
    return path.with_suffix("") if path.suffix in (".npz", ".json") else path


def save_arrays_and_metadata(path, arrays, metadata):
    """Save ``arrays`` to ``<path>.npz`` and ``metadata`` to ``<path>.json``, each atomically.

    Returns the two paths. No pickling: arrays must be numeric or strings.
    """
    import io as _io

    stem = _stem(path)
    buffer = _io.BytesIO()
    np.savez(buffer, **{k: np.asarray(v) for k, v in arrays.items()})
    npz_path, json_path = stem.with_suffix(".npz"), stem.with_suffix(".json")
    for k, v in arrays.items():
        if np.asarray(v).dtype == object:
            raise TypeError(f"array {k!r} has dtype object; only numeric or string arrays can be saved without pickle")
    atomic_write_bytes(npz_path, buffer.getvalue())
    atomic_write_bytes(json_path, json.dumps(to_jsonable(metadata), indent=1, sort_keys=True).encode())
    return npz_path, json_path


def load_arrays_and_metadata(path):
    """Load what :func:`save_arrays_and_metadata` wrote; returns ``(arrays, metadata)``."""
    stem = _stem(path)
    npz_path, json_path = stem.with_suffix(".npz"), stem.with_suffix(".json")
    for p in (npz_path, json_path):
        if not p.exists():
            raise FileNotFoundError(f"missing result file {p} (expected a .npz/.json pair at {stem})")
    with np.load(npz_path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    metadata = json.loads(json_path.read_text())
    return arrays, metadata


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
