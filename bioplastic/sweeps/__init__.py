"""Sweeps: many runs over a grid of configurations, serially or on Dask workers, resumable.

* :mod:`.description` -- :class:`Sweep` (a base configuration and a grid over
  its keys, from Python or a ``[sweep]`` section of a configuration file) and
  its split into :class:`SweepTask` objects, one ensemble each, identified
  by the SHA-256 of their canonical configuration;
* :mod:`.store` -- one History pair per task in the results folder, and
  :func:`merge_results`, one tidy table of them all;
* :mod:`.execution` -- :func:`run_sweep`: serially in this process, on a
  ``LocalCluster`` of single-threaded worker processes (``workers=N``) or on
  an existing Dask cluster (``scheduler=``); finished tasks are skipped on a
  rerun, failing ones retried and reported; :func:`map_calls`, the same
  execution for any independent calls (searches of the figures).

Dask is optional (``pip install bioplastic[sweeps]``) and imported only when
workers or a scheduler are asked for.

Examples
--------
>>> from bioplastic.sweeps import Sweep
>>> base = {"network": {"sizes": [6, 5, 3]}, "task": {"name": "student_teacher", "n_inputs": 6, "n_outputs": 3},
...         "rule": {"name": "node_perturbation"}, "training": {"n_epochs": 2}}
>>> sweep = Sweep(base=base, grid={"rule.sigma": [1e-4, 1e-3], "training.learning_rate": [0.01, 0.03],
...                                "training.seeds": [0, 1, 2]}, max_members=4)
>>> len(sweep), [task.n_members for task in sweep]
(4, [3, 3, 3, 3])
"""

from .description import DEFAULT_MAX_MEMBERS, MEMBER_KEYS, Sweep, SweepTask, canonical_json, config_hash, load_sweep
from .execution import SweepReport, TaskFailure, execute_task, map_calls, run_sweep
from .store import merge_results, result_path, stored_result

__all__ = ["DEFAULT_MAX_MEMBERS", "MEMBER_KEYS", "Sweep", "SweepReport", "SweepTask", "TaskFailure", "canonical_json", "config_hash",
           "execute_task", "load_sweep", "map_calls", "merge_results", "result_path", "run_sweep", "stored_result"]
