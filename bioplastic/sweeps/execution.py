"""Running a sweep's tasks: serially in this process, or on Dask workers (a local cluster or an existing one).

:func:`run_sweep` skips the tasks whose result is already stored
(:mod:`bioplastic.sweeps.store`), runs the others, stores each result as soon
as it arrives, retries a failing task and reports it with its configuration
when it keeps failing, while the other tasks complete.

Threads: every task runs single-threaded, its BLAS pinned to one thread
(``threadpoolctl``, :func:`bioplastic._threads.blas_limit`) and
``n_threads=1`` passed to :func:`bioplastic.train`; parallelism goes over
tasks, one per worker process (``threads_per_worker=1``), so workers x
threads never exceed the CPUs. Dask (``pip install bioplastic[sweeps]``) is
imported only for ``workers=`` or ``scheduler=``.
"""

from __future__ import annotations

import os
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .._validation import check_positive_int
from .description import Sweep, SweepTask
from .store import merge_results, save_result, stored_result

__all__ = ["SweepReport", "TaskFailure", "execute_task", "map_calls", "run_sweep"]

#: environment variable naming an existing Dask scheduler (used when neither ``workers`` nor ``scheduler`` is given)
SCHEDULER_VARIABLE = "DASK_SCHEDULER_ADDRESS"

_INSTALL_HINT = "pip install bioplastic[sweeps]"


def _distributed():
    """The ``distributed`` package, imported on first use; ImportError with the install hint if it is missing."""
    try:
        import distributed
    except ImportError as error:
        raise ImportError(f"running a sweep on Dask workers (workers= or scheduler=) needs dask.distributed: {_INSTALL_HINT}") from error
    return distributed


def execute_task(task):
    """Run one task (one :func:`bioplastic.train` call) single-threaded; returns its History.

    The BLAS is limited to one thread and the engine steps on one thread
    (``n_threads=1``), so that tasks run side by side on as many CPUs as
    workers. The History's ``final_state_`` (the weights) is dropped: the
    result is the records.
    """
    from .. import training
    from .._threads import blas_limit
    from ..config import build_experiment

    if not isinstance(task, SweepTask):
        raise TypeError(f"task should be a SweepTask, got {task!r}")
    with blas_limit(1):
        network, rule, learning_task, homeostasis, kwargs = build_experiment(task.config, base_dir=task.base_dir)
        history = training.train(network, rule, learning_task, homeostasis=homeostasis, progress=False, n_threads=1, **kwargs)
    history.__dict__.pop("final_state_", None)
    return history


@dataclass
class TaskFailure:
    """A task that failed on every attempt.

    Attributes
    ----------
    task : SweepTask
    error : str
        The last attempt's exception, ``"Type: message"``.
    traceback : str
        Its traceback (as far as it reached this process).
    attempts : int
    """

    task: SweepTask
    error: str
    traceback: str
    attempts: int

    def __str__(self):
        from .description import canonical_json

        point = ", ".join(f"{k}={v!r}" for k, v in self.task.grid_values.items()) or "the base configuration"
        return (f"{self.task.name} ({point}; learning rates {self.task.learning_rates}, seeds {self.task.seeds}) failed "
                f"after {self.attempts} attempt(s): {self.error}\n  configuration: {canonical_json(self.task.config)}")


@dataclass
class SweepReport:
    """What :func:`run_sweep` did.

    Attributes
    ----------
    out_dir : Path
    done : list of SweepTask
        Tasks computed and stored by this call.
    skipped : list of SweepTask
        Tasks whose result was already stored.
    failed : list of TaskFailure
        Tasks that failed on every attempt (none stored).
    replaced : list of SweepTask
        Tasks whose stored pair was unreadable or held another result, and
        which were therefore run again (they are in ``done`` or ``failed``).
    table : pandas.DataFrame
        :func:`~bioplastic.sweeps.merge_results` of the done and skipped tasks.
    """

    out_dir: Path
    done: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    replaced: list = field(default_factory=list)
    table: object = None

    @property
    def ok(self):
        """True when no task failed."""
        return not self.failed

    @property
    def n_tasks(self):
        return len(self.done) + len(self.skipped) + len(self.failed)

    def summary(self):
        """A few lines: counts, then each failure with its configuration and error."""
        lines = [f"{self.n_tasks} task(s): {len(self.done)} run, {len(self.skipped)} already complete (skipped), "
                 f"{len(self.failed)} failed; results in {self.out_dir}"]
        if self.replaced:
            lines.append(f"{len(self.replaced)} stored result(s) could not be used and were recomputed: "
                         + ", ".join(t.name for t in self.replaced))
        lines += [f"failed: {failure}" for failure in self.failed]
        return "\n".join(lines)

    def __repr__(self):
        return (f"SweepReport(done={len(self.done)}, skipped={len(self.skipped)}, failed={len(self.failed)}, "
                f"out_dir={str(self.out_dir)!r})")


def _error_text(error):
    return f"{type(error).__name__}: {error}"


def _check_out_dir(out_dir):
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"out_dir {out_dir} is an existing file; expected a folder (existing or to be created)")
    for parent in out_dir.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"out_dir {out_dir} lies below the file {parent}; expected a folder (existing or to be created)")
            break
    return out_dir


def _connect(address, timeout):
    """A Client of the scheduler at ``address``; ConnectionError naming it when it does not answer within ``timeout`` seconds."""
    distributed = _distributed()
    try:
        return distributed.Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as error:
        raise ConnectionError(f"cannot reach the Dask scheduler at {address!r} within {timeout:g} s ({error}); check the address "
                              f"(scheduler=, bioplastic sweep --scheduler, or {SCHEDULER_VARIABLE}) and that the scheduler runs") from None


def run_sweep(sweep, out_dir, *, workers=None, scheduler=None, retries=2, progress=True, connect_timeout=10, callback=None):
    """Run the tasks of ``sweep`` whose results are not yet in ``out_dir``; store each result there.

    Parameters
    ----------
    sweep : Sweep or path
        The sweep, or a TOML file with a ``[sweep]`` section
        (:meth:`Sweep.from_file`).
    out_dir : path
        Folder of the results: one pair ``task-<hash>.npz/.json`` per task
        (created if needed). Tasks already stored there (the pair loads and
        holds this task's hash) are skipped; missing, unreadable or foreign
        pairs are recomputed.
    workers : int, optional
        Run on a ``dask.distributed.LocalCluster`` of this many
        single-threaded worker processes, started and closed here (at most
        the CPUs this process may use). A script that does so needs the
        ``if __name__ == "__main__":`` guard (the workers are spawned).
    scheduler : str, optional
        Address of a running Dask scheduler (``"tcp://host:8786"``) whose
        workers run the tasks; by default the environment variable
        ``DASK_SCHEDULER_ADDRESS`` when ``workers`` is not given. Its
        workers should run one thread each (``--nthreads 1``). With neither,
        the tasks run one after the other in this process, without Dask.
    retries : int, default 2
        Attempts after the first for a task that raises (a task whose worker
        process dies is rescheduled by Dask itself); a task that fails
        ``1 + retries`` times is reported in ``report.failed`` and the
        others go on.
    progress : bool, default True
        A progress bar over tasks.
    connect_timeout : float, default 10
        Seconds to wait for ``scheduler`` before a ``ConnectionError``
        (raised before any task runs).
    callback : callable, optional
        ``callback(task, history)``, called in this process after each task's
        result is stored.

    Returns
    -------
    SweepReport
        Done, skipped and failed tasks, and the merged table of the done and
        skipped ones.

    Raises
    ------
    ValueError
        For bad arguments (``workers`` and ``scheduler`` both given, more
        workers than CPUs, ``out_dir`` an existing file).
    ConnectionError
        If ``scheduler`` does not answer within ``connect_timeout``.
    ImportError
        If ``workers`` or ``scheduler`` is given and dask.distributed is not
        installed (``pip install bioplastic[sweeps]``).
    """
    if isinstance(sweep, (str, os.PathLike)):
        sweep = Sweep.from_file(sweep)
    if not isinstance(sweep, Sweep):
        raise TypeError(f"sweep should be a Sweep or the path of a sweep file, got {sweep!r}")
    out_dir = _check_out_dir(out_dir)
    retries, workers, scheduler = _check_execution(retries, workers, scheduler)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback should be callable as callback(task, history), got {callback!r}")

    report = SweepReport(out_dir=out_dir)
    pending = []
    for task in sweep.tasks:
        status, _ = stored_result(out_dir, task)
        if status == "complete":
            report.skipped.append(task)
        else:
            pending.append(task)
            if status in ("corrupt", "other"):
                report.replaced.append(task)

    if pending:
        out_dir.mkdir(parents=True, exist_ok=True)
        from tqdm.auto import tqdm

        bar = tqdm(total=len(sweep.tasks), initial=len(report.skipped), disable=not progress, desc="sweep", unit="task")

        def done(task, history):
            save_result(out_dir, task, history)
            report.done.append(task)
            bar.update(1)
            if callback is not None:
                callback(task, history)

        def failed(task, error, text, attempts):
            report.failed.append(TaskFailure(task, _error_text(error), text, attempts))
            bar.update(1)
            bar.set_postfix(failed=len(report.failed))

        try:
            _run(pending, execute_task, lambda task: f"sweep-{task.hash[:16]}", retries, done, failed, workers=workers,
                 scheduler=scheduler, connect_timeout=connect_timeout)
        finally:
            bar.close()
    completed = set(report.done) | set(report.skipped)
    finished = [task for task in sweep.tasks if task in completed]
    report.table = merge_results(out_dir, tasks=finished)
    return report


def _check_execution(retries, workers, scheduler):
    """Checked ``retries``, ``workers`` and ``scheduler`` (the environment's scheduler address when neither is given)."""
    retries = check_positive_int(retries, "retries", minimum=0)
    if workers is not None and scheduler is not None:
        raise ValueError(f"give workers (a local cluster, got {workers!r}) or scheduler (an existing one, got {scheduler!r}), not both")
    if workers is not None:
        from .._threads import usable_cpus

        workers = check_positive_int(workers, "workers")
        cpus = usable_cpus()
        if workers > cpus:
            raise ValueError(f"workers={workers} exceeds the {cpus} CPU(s) this process may use; each worker runs one single-threaded "
                             f"task, so at most {cpus} worker(s) run side by side")
    if scheduler is None and workers is None:
        scheduler = os.environ.get(SCHEDULER_VARIABLE) or None
    if scheduler is not None and (not isinstance(scheduler, str) or not scheduler.strip()):
        raise TypeError(f"scheduler should be the address of a Dask scheduler such as 'tcp://127.0.0.1:8786', got {scheduler!r}")
    return retries, workers, scheduler


def map_calls(function, items, *, workers=None, scheduler=None, retries=2, progress=True, desc="runs", connect_timeout=10):
    """``[function(item) for item in items]``, serially or on Dask workers, each call single-threaded.

    The sweep machinery for work that is not one :func:`bioplastic.train`
    call (a minimum-training-time search, say): the calls are independent,
    each runs with its BLAS pinned to one thread, a call that raises is
    retried, and the results come back in the order of ``items``. Resuming
    is the calls' own business (a search with a checkpoint resumes from it).

    Parameters
    ----------
    function : callable
        ``function(item) -> result``; with workers or a scheduler it and the
        items must be picklable (a module-level function, not a lambda).
    items : sequence
    workers, scheduler, retries, progress, connect_timeout
        As for :func:`run_sweep`.
    desc : str, default "runs"
        Label of the progress bar.

    Returns
    -------
    list
        The results, in the order of ``items``.

    Raises
    ------
    RuntimeError
        After all calls finished, if some failed on every attempt; the
        message names each failed item and its last error.
    """
    if not callable(function):
        raise TypeError(f"function should be callable as function(item), got {function!r}")
    items = list(items)
    retries, workers, scheduler = _check_execution(retries, workers, scheduler)
    results, failures = {}, []
    from tqdm.auto import tqdm

    bar = tqdm(total=len(items), disable=not progress, desc=desc, unit="run")

    def done(call, result):
        results[call.index] = result
        bar.update(1)

    def failed(call, error, text, attempts):
        failures.append(f"item {call.index} ({call.item!r}) after {attempts} attempt(s): {_error_text(error)}")
        bar.update(1)

    run_id = uuid.uuid4().hex[:8]
    calls = [_Call(function, item, index) for index, item in enumerate(items)]
    try:
        _run(calls, _invoke, lambda call: f"call-{run_id}-{call.index}", retries, done, failed, workers=workers, scheduler=scheduler,
             connect_timeout=connect_timeout)
    finally:
        bar.close()
    if failures:
        raise RuntimeError(f"{len(failures)} of {len(items)} call(s) of {getattr(function, '__name__', function)!r} failed:\n  "
                           + "\n  ".join(failures))
    return [results[index] for index in range(len(items))]


class _Call:
    """``function(item)``, the ``index``-th call of :func:`map_calls`: a picklable unit of work."""

    def __init__(self, function, item, index):
        self.function, self.item, self.index = function, item, index


def _invoke(call):
    """Run a :class:`_Call`: ``function(item)`` with the BLAS pinned to one thread."""
    from .._threads import blas_limit

    with blas_limit(1):
        return call.function(call.item)


def _run(pending, function, key_of, retries, done, failed, *, workers, scheduler, connect_timeout):
    """Run ``function(item)`` for every pending item, serially or on Dask; ``done(item, result)`` / ``failed(item, error, text, attempts)``.

    Items are retried up to ``retries`` times; with Dask, ``key_of(item)``
    names its futures (and ``function`` and the items must be picklable).
    """
    if scheduler is None and workers is None:
        for item in pending:
            for attempt in range(1, retries + 2):
                try:
                    result = function(item)
                except Exception as error:
                    if attempt == retries + 1:
                        failed(item, error, traceback.format_exc(), attempt)
                else:
                    done(item, result)
                    break
        return
    _run_dask(pending, function, key_of, retries, done, failed, workers=workers, scheduler=scheduler, connect_timeout=connect_timeout)


def _run_dask(pending, function, key_of, retries, done, failed, *, workers, scheduler, connect_timeout):
    distributed = _distributed()
    cluster = None
    if scheduler is not None:
        client = _connect(scheduler, connect_timeout)
    else:
        cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        try:
            client = distributed.Client(cluster, set_as_default=False)
        except BaseException:
            cluster.close()
            raise
    run_id = uuid.uuid4().hex[:8]
    try:
        attempts = {}

        def submit(item):
            attempts[item] = attempts.get(item, 0) + 1
            future = client.submit(function, item, key=f"bioplastic-{key_of(item)}-{run_id}-{attempts[item]}", pure=False)
            futures[future] = item
            return future

        futures = {}
        queue = distributed.as_completed([submit(task) for task in pending], loop=client.loop)
        for future in queue:
            item = futures.pop(future)
            try:
                result = future.result()
            except Exception as error:
                if attempts[item] <= retries:
                    queue.add(submit(item))
                else:
                    try:
                        text = "".join(traceback.format_tb(future.traceback())) if future.traceback() is not None else ""
                    except Exception:  # the traceback could not be brought back
                        text = ""
                    failed(item, error, text, attempts[item])
            else:
                done(item, result)
            future.release()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
