"""The results store of a sweep: one History pair per task in one folder, merged into one table.

Each finished task's :class:`~bioplastic.History` is saved as the pair
``<out_dir>/task-<hash[:16]>.npz`` + ``.json`` by :meth:`History.save`
(written atomically, with an identifier and the SHA-256 of the ``.npz``
checked on loading; see :mod:`bioplastic.io`). Its configuration holds, under
``"sweep"``, the task's full hash, its grid values and its configuration
(:meth:`SweepTask.describe`). A task is complete when its pair loads and the
stored hash is the task's; a missing, unreadable (a truncated ``.npz``, a
changed file) or foreign pair means the task runs again.
"""

from __future__ import annotations

import json
import math
import numbers
from pathlib import Path

from ..io import pair_exists, remove_pair
from ..training import History

__all__ = ["RESULT_PREFIX", "merge_results", "result_path", "save_result", "stored_result"]

#: stem prefix of a task's result pair
RESULT_PREFIX = "task-"


def result_path(out_dir, task):
    """Stem of ``task``'s result pair in ``out_dir`` (``<out_dir>/task-<hash[:16]>``)."""
    return Path(out_dir) / task.name


def save_result(out_dir, task, history):
    """Save ``history`` (the result of ``task``) as the task's pair in ``out_dir``, with the task's description.

    A pair already there that cannot be loaded is removed first (it holds
    nothing to keep); any other is replaced atomically. Returns the
    ``(npz, json)`` paths.
    """
    stem = result_path(out_dir, task)
    if pair_exists(stem) and stored_result(out_dir, task)[0] == "corrupt":
        remove_pair(stem)
    history.config = {**history.config, "sweep": task.describe()}
    return history.save(stem)


def stored_result(out_dir, task):
    """What ``out_dir`` holds for ``task``: ``(status, value)``.

    Returns
    -------
    status : {"complete", "missing", "corrupt", "other"}
        ``"complete"``: the pair loads and its stored hash is the task's;
        ``"missing"``: no pair; ``"corrupt"``: the pair does not load (a
        truncated or changed file, a file of the pair missing);
        ``"other"``: it loads but holds another configuration's result.
    value : History or str or None
        The History when complete, else what is wrong (``None`` when missing).
    """
    stem = result_path(out_dir, task)
    if not pair_exists(stem):
        return "missing", None
    try:
        history = History.load(stem)
    except (ValueError, FileNotFoundError, OSError) as error:
        return "corrupt", str(error)
    stored = history.config.get("sweep")
    stored_hash = stored.get("hash") if isinstance(stored, dict) else None
    if stored_hash != task.hash:
        return "other", f"{stem}.json holds the result of configuration {stored_hash!r}, not {task.hash!r}"
    return "complete", history


def _cell(value):
    """A grid value as a table cell: numbers, strings and booleans as they are, lists and tables as JSON text."""
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    return value


def _order(value):
    """Sort key of a cell that orders numbers, then strings, then missing values, without comparing across kinds."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return (2, 0.0, "")
    if isinstance(value, numbers.Real):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def _task_table(history, stem):
    import pandas as pd

    stored = history.config.get("sweep")
    if not isinstance(stored, dict) or not isinstance(stored.get("hash"), str) or not isinstance(stored.get("grid"), dict):
        raise ValueError(f"{stem}.json does not hold a sweep task's result (no 'sweep' entry with its hash and grid values)")
    table = history.to_table()
    grid = {key: _cell(value) for key, value in stored["grid"].items()}
    front = pd.DataFrame({key: [value] * len(table) for key, value in grid.items()}, index=table.index)
    front["task"] = stored["hash"][:16]
    return pd.concat([front, table], axis=1), list(grid)


def merge_results(out_dir, *, tasks=None):
    """One tidy table of the sweep results in ``out_dir``: every task's :meth:`History.to_table` with its grid values.

    Parameters
    ----------
    out_dir : path
        The sweep's results folder.
    tasks : sequence of SweepTask, optional
        Merge only these tasks' results (each must be complete); by default
        every result pair ``task-*`` in ``out_dir``.

    Returns
    -------
    pandas.DataFrame
        One row per task, member and record: a column per grid key (named
        by the key, e.g. ``"rule.sigma"``; values that are lists or tables,
        such as ``"network.sizes"``, as JSON text ``"[6, 5, 3]"``), ``task``
        (the first 16 hex digits of the task's hash), then the columns of
        :meth:`History.to_table` (``member`` numbers the members within a
        task). Sorted by the grid columns (numbers before strings), learning
        rate, seed, epoch and task, with a fresh index: the same results
        give the same table whatever order the tasks ran in. Empty when
        there are no results.

    Raises
    ------
    ValueError
        If a result pair cannot be loaded (the message names it; rerunning
        the sweep recomputes it), or a given task has no complete result.
    """
    import pandas as pd

    out_dir = Path(out_dir)
    if tasks is None:
        if not out_dir.is_dir():
            raise FileNotFoundError(f"sweep results folder {out_dir} does not exist")
        stems = [path.with_suffix("") for path in sorted(out_dir.glob(f"{RESULT_PREFIX}*.json"))]
        histories = []
        for stem in stems:
            try:
                histories.append((History.load(stem), stem))
            except (ValueError, FileNotFoundError) as error:
                raise ValueError(f"{error}; run the sweep again to recompute this task") from None
    else:
        histories = []
        for task in tasks:
            status, value = stored_result(out_dir, task)
            if status != "complete":
                raise ValueError(f"{task.name} ({task.grid_values}) has no complete result in {out_dir} ({status}"
                                 f"{': ' + value if isinstance(value, str) else ''}); run the sweep to compute it")
            histories.append((value, result_path(out_dir, task)))
    if not histories:
        return pd.DataFrame()
    tables, keys = [], []
    for history, stem in histories:
        table, grid_keys = _task_table(history, stem)
        tables.append(table)
        keys += [key for key in grid_keys if key not in keys]
    keys.sort()
    merged = pd.concat(tables, ignore_index=True, sort=False)
    front = keys + ["task"]
    merged = merged[front + [c for c in merged.columns if c not in front]]
    columns = {key: merged[key].tolist() for key in keys}
    lr, seed, epoch, task = (merged[c].tolist() for c in ("learning_rate", "seed", "epoch", "task"))
    order = sorted(range(len(merged)), key=lambda i: (tuple(_order(columns[k][i]) for k in keys), lr[i], seed[i], epoch[i], task[i]))
    return merged.iloc[order].reset_index(drop=True)
