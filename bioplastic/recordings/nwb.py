"""Recordings from Neurodata Without Borders (NWB) files: spike counts per trial.

NWB (Rübel et al., eLife 11, e78362, 2022) stores sorted spikes in the
``units`` table (a ``spike_times`` column per unit) and trials in the
``trials`` table or another time-intervals table of ``intervals``, with the
stimulus of each trial in a column of its own.  :func:`recording_from_nwb`
turns them into a :class:`~bioplastic.recordings.Recording`: the response of a
unit on a trial is its spike count in a window aligned to a time column of the
trial, divided by the window's duration (spikes per second).

Reading NWB files needs the optional package ``pynwb``
(``pip install pynwb``, or ``pip install "bioplastic[recordings]"``), imported
only when called.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .recording import Recording

__all__ = ["recording_from_nwb"]


def _import_pynwb():
    try:
        import pynwb
    except ImportError as exc:  # pragma: no cover - depends on environment
        raise ImportError(
            "Reading NWB files needs the 'pynwb' package: install it with `pip install pynwb` "
            "or `pip install \"bioplastic[recordings]\"`."
        ) from exc
    return pynwb


def _decode(values):
    values = np.asarray(values)
    if values.dtype.kind == "O" and len(values) and isinstance(values[0], bytes):
        return np.array([v.decode() for v in values])
    if values.dtype.kind == "S":
        return values.astype(str)
    return values


def recording_from_nwb(path, *, stimulus_column="stimulus", window=(0.0, 0.2), align="start_time",
                       intervals="trials", exclude=(), metadata=None):
    """Spike rates of the units of an NWB file in a window of each trial, grouped by stimulus.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.nwb`` file (HDF5).
    stimulus_column : str, optional
        Column of the intervals table naming the stimulus of each trial.
    window : tuple of two float, optional
        Start and end of the counting window in seconds relative to the
        ``align`` time of each trial, ``window[0] < window[1]``; spikes at
        ``t`` with ``align + window[0] <= t < align + window[1]`` count.
    align : str, optional
        Time column of the intervals table the window is aligned to
        (``"start_time"`` by default).
    intervals : str, optional
        ``"trials"`` for the file's trials table, or the name of a table in
        its ``intervals``.
    exclude : sequence, optional
        Stimulus values to drop (e.g. blank trials).
    metadata : dict, optional
        Added to ``source``, ``identifier``, ``session_description``,
        ``unit_ids``, ``window`` and ``align`` taken from the file.

    Returns
    -------
    Recording
        ``(repeats, stimuli, units)`` rates in spikes per second; the ``k``-th
        trial of a stimulus (in table order) is its repeat ``k``, stimuli with
        fewer trials have NaN repeats.  Stimulus identifiers are the sorted
        values of ``stimulus_column``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    KeyError
        If the intervals table or one of its columns is missing, or the file
        has no units; the message lists what the file has.
    ValueError
        If ``window`` is not an increasing pair of finite numbers.
    ImportError
        If ``pynwb`` is not installed.
    """
    try:
        start, stop = (float(w) for w in window)
    except (TypeError, ValueError):
        raise ValueError(f"window should be two numbers (start, end) in seconds, got {window!r}") from None
    if not (np.isfinite([start, stop]).all() and start < stop):
        raise ValueError(f"window should be finite with start < end, got {window!r}")
    path = Path(os.fspath(path)).expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"NWB file {path} does not exist")
    pynwb = _import_pynwb()
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        if intervals == "trials":
            table = nwb.trials
        else:
            table = nwb.intervals.get(intervals) if nwb.intervals else None
        if table is None:
            available = sorted(nwb.intervals) if nwb.intervals else []
            raise KeyError(f"{path} has no intervals table {intervals!r}; it has {available}")
        for column in (stimulus_column, align):
            if column not in table.colnames:
                raise KeyError(f"{path}: the {intervals!r} table has no column {column!r}; its columns are {list(table.colnames)}")
        if nwb.units is None or len(nwb.units) == 0:
            raise KeyError(f"{path} has no units table with spike times")
        stimuli = _decode(table[stimulus_column].data[:])
        onsets = np.asarray(table[align].data[:], dtype=float)
        unit_ids = np.asarray(nwb.units.id.data[:])
        spike_times = [np.sort(np.asarray(nwb.units["spike_times"][i], dtype=float)) for i in range(len(unit_ids))]
        info = {"source": str(path), "identifier": nwb.identifier, "session_description": nwb.session_description}
    counts = np.empty((len(onsets), len(spike_times)))
    for unit, times in enumerate(spike_times):
        counts[:, unit] = (np.searchsorted(times, onsets + stop, side="left")
                           - np.searchsorted(times, onsets + start, side="left"))
    info.update(unit_ids=unit_ids, window=(start, stop), align=align)
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise TypeError(f"metadata should be a dict or None, got {type(metadata).__name__}")
        info.update(metadata)
    return Recording.from_presentations(counts / (stop - start), stimuli, exclude=exclude, metadata=info)
