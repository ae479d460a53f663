"""Benchmark: one sweep run serially and on a local Dask cluster of 2 single-threaded worker processes.

The sweep: node perturbation on the nonlinear student-teacher task (a
20-50-5 tanh MLP, 2000 training samples, batch 20), 4 values of sigma x 4
learning rates x 2 seeds, 2 members per task: 16 tasks of about half a
second each. It runs serially in this process (``run_sweep(sweep, dir)``)
and on a ``LocalCluster(n_workers=2, threads_per_worker=1)`` started
beforehand (``run_sweep(sweep, dir, scheduler=address)``), into fresh
folders, interleaved, best of ``--repeats`` rounds; the two merged tables
are checked to be identical. Printed: both times, the cluster's start-up
(not counted), the scheduling overhead per task (the round trip of a no-op
task on the same cluster, and the CPU time each task of the sweep lost
against a perfect split, ``(workers x parallel - serial) / tasks``), and
last ``sweep speed-up = X`` (serial / parallel). Goal: >= 1.7 on 2 cores.

    python benchmarks/sweep_scaling.py [--quick] [--repeats N] [--workers N] [--epochs N]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def make_sweep(*, quick, epochs):
    from bioplastic.sweeps import Sweep

    if quick:  # 4 tiny tasks
        task = {"name": "student_teacher", "n_inputs": 6, "n_hidden": 5, "n_outputs": 3, "n_train": 100, "n_test": 20, "seed": 0}
        base = {"network": {"sizes": [6, 5, 3], "hidden": "tanh"}, "task": task, "rule": {"name": "node_perturbation"},
                "training": {"n_epochs": 1, "batch_size": 10}}
        grid = {"rule.sigma": [1e-3, 1e-2], "training.learning_rate": [0.01, 0.03], "training.seeds": [0]}
        return Sweep(base=base, grid=grid, max_members=1)
    task = {"name": "student_teacher", "n_inputs": 20, "n_hidden": 20, "n_outputs": 5, "n_train": 2000, "n_test": 500, "seed": 0}
    base = {"network": {"sizes": [20, 50, 5], "hidden": "tanh"}, "task": task, "rule": {"name": "node_perturbation"},
            "training": {"n_epochs": epochs, "batch_size": 20}}
    grid = {"rule.sigma": [1e-4, 3e-4, 1e-3, 3e-3], "training.learning_rate": [0.003, 0.01, 0.03, 0.1], "training.seeds": [0, 1]}
    return Sweep(base=base, grid=grid, max_members=2)


def noop_overhead(client, n):
    """Seconds per task for submitting ``n`` no-op tasks and gathering their results."""
    client.gather(client.map(abs, range(-8, 0), pure=False))  # warm-up
    start = time.perf_counter()
    client.gather(client.map(abs, range(-n, 0), pure=False))
    return (time.perf_counter() - start) / n


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 tiny tasks, one round (a smoke test)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds; the best time of each is kept (default: 3)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes of the local cluster (default: 2)")
    parser.add_argument("--epochs", type=int, default=12, help="epochs per task (default: 12)")
    args = parser.parse_args(argv)

    import pandas as pd
    from distributed import Client, LocalCluster

    from bioplastic._threads import blas_description, usable_cpus
    from bioplastic.sweeps import execute_task, run_sweep

    sweep = make_sweep(quick=args.quick, epochs=args.epochs)
    repeats = 1 if args.quick else args.repeats
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    execute_task(sweep.tasks[0])  # warm-up of this process: imports, caches
    start = time.perf_counter()
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster, set_as_default=False) as client:
        client.wait_for_workers(args.workers)
        client.run(execute_task, sweep.tasks[0])  # warm-up of every worker
        startup = time.perf_counter() - start
        overhead = noop_overhead(client, 20 if args.quick else 200)
        best = {"serial": float("inf"), "parallel": float("inf")}
        tables = {}
        with tempfile.TemporaryDirectory() as tmp:
            for round_ in range(repeats):
                for mode in best:
                    out = Path(tmp) / f"{mode}{round_}"
                    scheduler = None if mode == "serial" else cluster.scheduler_address
                    t0 = time.perf_counter()
                    report = run_sweep(sweep, out, scheduler=scheduler, progress=False)
                    best[mode] = min(best[mode], time.perf_counter() - t0)
                    if not report.ok:
                        raise RuntimeError(f"the {mode} sweep failed:\n{report.summary()}")
                    tables[mode] = report.table
    try:
        pd.testing.assert_frame_equal(tables["serial"], tables["parallel"], check_exact=True)
        identical = "yes"
    except AssertionError:
        identical = "NO"

    n_tasks = len(sweep)
    serial, parallel = best["serial"], best["parallel"]
    speedup = serial / parallel
    lost = (args.workers * parallel - serial) / n_tasks
    blas, _ = blas_description()
    task = sweep.tasks[0].config
    print(f"sweep: {n_tasks} tasks of {sweep.tasks[0].n_members} member(s) (NP, {'-'.join(map(str, task['network']['sizes']))} tanh MLP, "
          f"{task['task']['n_train']} samples, {task['training']['n_epochs']} epoch(s)); {usable_cpus()} usable CPU(s); {blas}")
    print(f"load average when the run started: {load:.2f} (other processes slow the parallel run most)")
    print(f"serial, in this process:       {serial:8.3f} s  ({serial / n_tasks * 1e3:7.1f} ms per task)")
    print(f"LocalCluster, {args.workers} workers:       {parallel:8.3f} s  (start-up {startup:.2f} s, not counted)")
    print(f"results identical: {identical}")
    print(f"scheduling overhead per task: {overhead * 1e3:.2f} ms (no-op round trip), {lost * 1e3:.1f} ms of CPU lost per sweep task "
          f"against a perfect split over {args.workers} workers")
    print(f"(goal: speed-up >= 1.7 with 2 workers on 2 cores{', --quick: indicative only' if args.quick else ''})")
    print(f"sweep speed-up = {speedup:.2f}")
    return speedup


if __name__ == "__main__":
    main()
