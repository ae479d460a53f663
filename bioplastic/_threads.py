"""The CPU budget of the engines and how they spend it on threads.

Budget
------
:func:`usable_cpus` counts the CPUs this process may use: the smallest of
the CPUs in its affinity mask (``os.sched_getaffinity``; ``taskset``,
``numactl``, batch schedulers), ``os.process_cpu_count()`` where Python has
it (3.13+; it also honours ``PYTHON_CPU_COUNT``), and the CPU quota of its
cgroup (containers, systemd slices, Slurm and Kubernetes limits: cgroup v2
``cpu.max``, cgroup v1 ``cpu.cfs_quota_us / cpu.cfs_period_us``, of the
process's cgroup and the groups above it). A fractional quota rounds
*down* (150000/100000 = 1.5 CPUs gives 1; never fewer than 1): threads that
need more CPU time than the quota grants are throttled for the rest of each
period, in the middle of their matrix products; ``max`` or ``-1`` means no
limit.

Policy
------
Three kinds of threads run an engine's work: the noise prefetch thread
(draws the next chunk of intrinsic noise while the steps run), the worker
threads that step member blocks concurrently, and the threads of the BLAS
inside each matrix product. Together they never exceed the budget:
``blas_threads x workers (+ 1 prefetch thread) <= budget``.

* The prefetch thread gets a CPU of its own when the rule draws noise and
  the budget has one to spare beside the workers; with a budget of 1 the
  noise is drawn in line (same draws, same results).
* ``n_threads="auto"`` (the default) uses up to ``budget - 1`` workers,
  at most one per member block, and more than one only when a block's step
  does at least :data:`MIN_WORKER_FLOPS` of matrix products (float64;
  float32 products count half, they run twice as fast); the remaining CPU
  is the prefetch thread's or stays free for other processes. So on two
  CPUs ``auto`` steps the blocks on one thread. Measured on two cores: a
  second worker speeds up steps whose blocks do 3e8 flops (784-100-10 and
  784-300-10 ensembles) by 1.4-1.7x, those of blocks doing 1e7-4e7 flops
  (SARCOS-sized 21-100-7 ensembles) by 0.8-1.2x (the many short numpy
  calls of a step contend for the interpreter lock); and beside one busy
  process two workers on two CPUs slow down 1.7x (float64; 1.3x float32),
  ending slower than one worker, which slows down 1.0x: every step ends
  with all workers waiting for the last one. An explicit ``n_threads=N``
  is honoured as given (at most one per block); BLAS then runs
  single-threaded unless the budget leaves room, and the prefetch thread
  only when a CPU is left beside the N workers.
* Workers x BLAS threads never exceed ``budget - 1``: the last CPU is the
  prefetch thread's, or stays free, so that one competing process costs a
  run a fraction, not a collapse.
* BLAS runs single-threaded for matrix products below
  :data:`MIN_FLOPS_PER_BLAS_THREAD` floating-point operations per thread
  (every product of a minibatch step of the networks this package trains,
  and most evaluations): for such products the threads' synchronisation
  costs more than they compute, and when another process is busy a team of
  BLAS threads collapses (OpenBLAS threads spin-wait for a partner that is
  not running: an NP epoch of a 784-100-10 network beside one busy process
  on two cores took 28-44 s with two BLAS threads, 0.66 s with one).
  Measured on two cores beside one busy process, float32: two BLAS threads
  made products of 1.6e7-1.4e8 flops (100 x 784 x 100 to 300 x 784 x 300)
  3-14x slower than one thread, and only from 5e8 flops on (1000 x 784 x
  300) faster (0.8x the time); the threshold, 5e8 flops per thread, is on
  the safe side of that. Larger products get as many threads as give each
  thread that much work, up to ``(budget - 1) // workers``.
* The limits are set with ``threadpoolctl`` around the engine's steps and
  predictions and restored afterwards; nothing changes at import. They
  only ever lower the BLAS's thread count: a user's
  ``OPENBLAS_NUM_THREADS=1`` (or a surrounding ``threadpool_limits``) stays
  in force.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import numbers
import os
import sys

__all__ = [
    "MIN_FLOPS_PER_BLAS_THREAD",
    "MIN_WORKER_FLOPS",
    "ThreadPlan",
    "blas_description",
    "blas_limit",
    "blas_threads",
    "cgroup_cpu_limit",
    "check_n_threads",
    "current_blas_threads",
    "plan_threads",
    "usable_cpus",
]

#: Floating-point operations per BLAS thread below which a matrix product runs single-threaded.
MIN_FLOPS_PER_BLAS_THREAD = 5e8

#: Matrix-product work (float64 flops) of one member block's step below which ``n_threads="auto"`` keeps one worker.
MIN_WORKER_FLOPS = 1e8


# ----------------------------------------------------------------------------- budget
def _quota_cpus(quota, period):
    """CPUs granted by a CFS quota (``quota`` microseconds per ``period``), rounded down, at least 1; ``None``: no limit."""
    if quota is None or period is None or quota <= 0 or period <= 0:
        return None
    return max(1, math.floor(quota / period))


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _parse_int(text):
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def _ancestors(mount, path):
    """``mount/path`` and the directories above it up to ``mount`` (deepest first)."""
    parts = [p for p in (path or "/").split("/") if p]
    return [os.path.join(mount, *parts[:i]) for i in range(len(parts), -1, -1)]


def cgroup_cpu_limit(*, root="/sys/fs/cgroup", proc_cgroup="/proc/self/cgroup"):
    """CPUs granted by the process's cgroup CPU quota, rounded down (at least 1); ``None`` when unlimited.

    Reads cgroup v2 ``cpu.max`` (``"max 100000"``: no limit; ``"150000
    100000"``: 1.5 CPUs, gives 1) and cgroup v1 ``cpu.cfs_quota_us`` /
    ``cpu.cfs_period_us`` (a quota of ``-1``: no limit), in the process's
    own cgroup (from ``proc_cgroup``) and every group above it, and
    returns the tightest limit.

    Parameters
    ----------
    root : path, default "/sys/fs/cgroup"
        Where the cgroup file systems are mounted.
    proc_cgroup : path, default "/proc/self/cgroup"
        The process's cgroup membership (``hierarchy:controllers:path`` lines).

    Returns
    -------
    int or None
    """
    v2_path, v1_path = None, None
    text = _read(proc_cgroup) or ""
    for line in text.splitlines():
        fields = line.split(":", 2)
        if len(fields) != 3:
            continue
        _, controllers, path = fields
        if controllers == "":
            v2_path = path
        elif "cpu" in controllers.split(","):
            v1_path = path
    limits = []
    # cgroup v2 (unified): cpu.max in the process's group and above; also the root itself
    mounts_v2 = [root, os.path.join(root, "unified")]
    for mount in mounts_v2:
        for directory in _ancestors(mount, v2_path):
            fields = (_read(os.path.join(directory, "cpu.max")) or "").split()
            if len(fields) == 2 and fields[0] != "max":
                limits.append(_quota_cpus(_parse_int(fields[0]), _parse_int(fields[1])))
    # cgroup v1: cpu.cfs_quota_us / cpu.cfs_period_us of the cpu controller
    for mount in (os.path.join(root, "cpu"), os.path.join(root, "cpu,cpuacct"), os.path.join(root, "cpuacct,cpu")):
        for directory in _ancestors(mount, v1_path):
            quota = _parse_int(_read(os.path.join(directory, "cpu.cfs_quota_us")))
            period = _parse_int(_read(os.path.join(directory, "cpu.cfs_period_us")))
            limits.append(_quota_cpus(quota, period))
    limits = [n for n in limits if n is not None]
    return min(limits) if limits else None


def usable_cpus():
    """Number of CPUs this process may use (at least 1).

    The smallest of: the CPUs in the affinity mask
    (``os.sched_getaffinity(0)``, else ``os.cpu_count()``),
    ``os.process_cpu_count()`` where available (Python 3.13+), and the
    cgroup CPU quota (:func:`cgroup_cpu_limit`, rounded down).

    Returns
    -------
    int
    """
    counts = []
    try:
        counts.append(len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        counts.append(os.cpu_count())
    process_cpu_count = getattr(os, "process_cpu_count", None)
    if process_cpu_count is not None:
        counts.append(process_cpu_count())
    counts.append(cgroup_cpu_limit())
    counts = [int(n) for n in counts if n is not None and n >= 1]
    return min(counts) if counts else 1


# ----------------------------------------------------------------------------- policy
def check_n_threads(n_threads):
    """Return ``n_threads`` as ``"auto"`` or an int >= 1; the bad value is named otherwise."""
    if isinstance(n_threads, str):
        if n_threads == "auto":
            return n_threads
        raise ValueError(f"n_threads should be 'auto' or an integer >= 1, got {n_threads!r}")
    if isinstance(n_threads, bool) or not isinstance(n_threads, numbers.Integral):
        raise TypeError(f"n_threads should be 'auto' or an integer >= 1, got {n_threads!r} of type {type(n_threads).__name__}")
    if n_threads < 1:
        raise ValueError(f"n_threads should be 'auto' or an integer >= 1, got {n_threads!r}")
    return int(n_threads)


def blas_threads(flops, cpus):
    """BLAS threads for matrix products of ``flops`` floating-point operations when ``cpus`` CPUs are free for them.

    One thread below :data:`MIN_FLOPS_PER_BLAS_THREAD` flops per thread,
    else as many as give each thread that much work, at most ``cpus``.
    """
    return int(max(1, min(int(cpus), flops // MIN_FLOPS_PER_BLAS_THREAD)))


@dataclasses.dataclass(frozen=True)
class ThreadPlan:
    """How an engine spends its CPU budget (see the module docstring).

    Attributes
    ----------
    budget : int
        CPUs the process may use (:func:`usable_cpus`).
    workers : int
        Threads that step member blocks concurrently.
    prefetch : bool
        Whether the noise prefetch thread runs.
    blas_cpus : int
        CPUs a matrix product's BLAS threads may use in each worker:
        ``blas_cpus x workers + prefetch <= budget`` whenever ``workers``
        fits the budget.
    """

    budget: int
    workers: int
    prefetch: bool
    blas_cpus: int

    def blas_threads(self, flops):
        """BLAS threads for matrix products of ``flops`` floating-point operations (:func:`blas_threads`)."""
        return blas_threads(flops, self.blas_cpus)


def plan_threads(n_threads="auto", *, n_blocks=1, block_flops=0.0, itemsize=8, uses_noise=False, budget=None):
    """The thread plan of an engine.

    Parameters
    ----------
    n_threads : "auto" or int, default "auto"
        Worker threads over member blocks; an explicit number is honoured
        (at most one per block).
    n_blocks : int, default 1
        Member blocks the engine steps.
    block_flops : float, default 0
        Floating-point operations of one block's matrix products per step.
    itemsize : int, default 8
        Bytes per number (4 for float32, whose products count half).
    uses_noise : bool, default False
        Whether the rule draws intrinsic noise (a prefetch thread can run).
    budget : int, optional
        CPUs available (default: :func:`usable_cpus`).

    Returns
    -------
    ThreadPlan
    """
    n_threads = check_n_threads(n_threads)
    budget = usable_cpus() if budget is None else max(1, int(budget))
    n_blocks = max(1, int(n_blocks))
    team = max(1, budget - 1)  # CPUs for workers x BLAS threads: one is left to the prefetch thread or to other processes
    if n_threads == "auto":
        workers = min(n_blocks, team) if team >= 2 and block_flops * itemsize / 8 >= MIN_WORKER_FLOPS else 1
    else:
        workers = min(n_threads, n_blocks)
    prefetch = uses_noise and budget > workers
    return ThreadPlan(budget=budget, workers=workers, prefetch=prefetch, blas_cpus=max(1, team // workers))


# ----------------------------------------------------------------------------- BLAS limits
_CONTROLLER = None
_CONTROLLER_KEY = None


def _controller():
    """A cached ``threadpoolctl.ThreadpoolController`` (rebuilt when modules were imported since, which may load a BLAS)."""
    global _CONTROLLER, _CONTROLLER_KEY
    key = len(sys.modules)
    if _CONTROLLER is None or key != _CONTROLLER_KEY:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
        _CONTROLLER_KEY = len(sys.modules)
    return _CONTROLLER


def _blas_controllers():
    return [lib for lib in _controller().lib_controllers if lib.user_api == "blas"]


@contextlib.contextmanager
def blas_limit(n_threads):
    """Context manager: at most ``n_threads`` BLAS threads inside the block, the previous counts restored after.

    Only lowers: a BLAS already limited to fewer threads (by
    ``OPENBLAS_NUM_THREADS``, or an enclosing limit) keeps its count.
    Covers every BLAS loaded in the process (``threadpoolctl``).
    """
    n_threads = max(1, int(n_threads))
    changed = []
    try:
        for lib in _blas_controllers():
            before = lib.get_num_threads()
            if before is not None and before > n_threads:
                lib.set_num_threads(n_threads)
                changed.append((lib, before))
        yield
    finally:
        for lib, before in reversed(changed):
            lib.set_num_threads(before)


def current_blas_threads():
    """The largest thread count of the BLAS libraries loaded in the process (``None`` when there is none)."""
    counts = [lib.get_num_threads() for lib in _blas_controllers()]
    counts = [c for c in counts if c is not None]
    return max(counts) if counts else None


def blas_description():
    """The BLAS behind numpy: library, version, kernels and threads, and a hint when the environment pins it below the CPU.

    Returns
    -------
    text : str
        For example ``"BLAS: openblas 0.3.30, Haswell kernels, 2 threads"``.
    hint : str or None
        Set when ``OPENBLAS_CORETYPE`` pins OpenBLAS to its AVX2 kernels on
        a processor with AVX-512 (which would double matrix-product speed).
    """
    from threadpoolctl import threadpool_info

    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    if not blas:
        return "BLAS: unknown", None
    info = blas[0]
    kernels = info.get("architecture") or info.get("corename") or "unknown"
    text = f"BLAS: {info.get('internal_api')} {info.get('version') or ''}, {kernels} kernels, {info.get('num_threads')} thread(s)".replace("  ", " ")
    hint = None
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    if coretype:
        text += f" (OPENBLAS_CORETYPE={coretype} in the environment)"
    if info.get("internal_api") == "openblas" and kernels in ("Haswell", "Zen") and coretype:
        text_flags = _read("/proc/cpuinfo") or ""
        flags = next((line.split(":", 1)[1].split() for line in text_flags.splitlines() if line.startswith("flags")), [])
        if {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= set(flags):
            hint = ("this CPU has AVX-512, which the pinned OpenBLAS kernels leave unused; "
                    "unset OPENBLAS_CORETYPE (env -u OPENBLAS_CORETYPE python ...) to let OpenBLAS choose its AVX-512 kernels")
    return text, hint
