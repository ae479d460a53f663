"""Benchmark: an NP epoch on a quiet machine and beside one competing busy process.

An NP epoch of a 784-100-10 and of a 784-300-10 MLP (ReLU hidden layer,
softmax readout, float32, batch 100, sigma = 1e-4: 600 steps over 60,000
samples, then the outputs of 10,000 test samples) is timed twice: with the
machine otherwise quiet, and while one competing process (a pure-Python busy
loop started by this benchmark) occupies a core. Each measurement runs in a
worker subprocess, once with the default settings (the environment without
its BLAS thread variables ``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS``,
``MKL_NUM_THREADS``) and once with ``OPENBLAS_NUM_THREADS=1`` (BLAS reads
it when numpy is imported); quiet and contended runs are interleaved and the best of
``--repeats`` rounds is kept. Printed: the slowdown (contended / quiet) of
each network and setting, and last ``contention slowdown = X``, the worst
slowdown with the default settings. Goal: <= 1.5.

    python benchmarks/contention.py [--quick] [--repeats N] [--steps N]

The data are random arrays of MNIST's shape; with BIOPLASTIC_DATA_DIR
pointing at a directory holding MNIST, the real images are used (not in
--quick mode). The busy process stops itself after ``--busy-limit``
seconds or when this benchmark exits, and is stopped at the end of every
contended measurement, on Ctrl-C and on errors.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

SIZES = ((784, 100, 10), (784, 300, 10))
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")
BATCH = 100
N_TEST = 10_000

BUSY_LOOP = """
import os, sys, time
parent, deadline = os.getppid(), time.monotonic() + float(sys.argv[1])
print("ready", flush=True)
while time.monotonic() < deadline and os.getppid() == parent:
    for _ in range(100_000):
        pass
"""


# ----------------------------------------------------------------------------- worker (one per setting)
def _data(sizes, n_train, real):
    import numpy as np

    if real:
        from bioplastic.tasks.mnist import load_mnist

        data = load_mnist(os.environ["BIOPLASTIC_DATA_DIR"], download=False)
        eye = np.eye(sizes[-1], dtype=np.float32)
        return (data["x_train"][:n_train].astype(np.float32), eye[data["y_train"][:n_train]],
                data["x_test"][:N_TEST].astype(np.float32))
    rng = np.random.default_rng(0)
    x = rng.random((n_train, sizes[0]), dtype=np.float32)
    y = np.eye(sizes[-1], dtype=np.float32)[rng.integers(0, sizes[-1], n_train)]
    return x, y, rng.random((N_TEST, sizes[0]), dtype=np.float32)


def np_epoch(sizes, x, y, x_test, n_steps, seed=0):
    """Seconds for ``n_steps`` NP steps of a fresh engine and its outputs on ``x_test``; the BLAS threads during the steps."""
    import numpy as np
    from threadpoolctl import threadpool_info

    import bioplastic as bp
    from bioplastic.engines.numpy import NumpyEngine

    net = bp.models.mlp(sizes, hidden="relu", readout="softmax")
    engine = NumpyEngine(net, bp.NodePerturbation(sigma=1e-4, batch_reduction="sum"), bp.SquaredError(),
                         seeds=[seed], batch_size=BATCH, dtype=np.float32)
    scale = np.array([1e-3], dtype=np.float32)
    order = np.random.default_rng(seed).permutation(len(x))
    start = time.perf_counter()
    engine.start_epoch(n_steps)
    with np.errstate(all="ignore"), engine.running():
        blas_threads = max((i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"), default=None)
        for i in range(n_steps):
            idx = order[(i * BATCH) % len(x): (i * BATCH) % len(x) + BATCH]
            engine.step(x[idx], y[idx], scale)
    engine.predict(x_test)
    return time.perf_counter() - start, blas_threads


def worker(real):
    """Answer one JSON request per line of stdin (``{"sizes": [...], "steps": n}``) with a JSON line of results."""
    cache = {}
    for line in sys.stdin:
        request = json.loads(line)
        sizes, steps = tuple(request["sizes"]), request["steps"]
        if (sizes, steps) not in cache:
            cache = {(sizes, steps): _data(sizes, steps * BATCH, real)}
            np_epoch(sizes, *cache[sizes, steps], min(steps, 5))  # warm-up: imports, thread pools
        seconds, blas_threads = np_epoch(sizes, *cache[sizes, steps], steps)
        print(json.dumps({"seconds": seconds, "blas_threads": blas_threads}), flush=True)


# ----------------------------------------------------------------------------- driver
class Workers:
    """One long-lived worker subprocess per setting (name -> BLAS thread variables), stopped on exit."""

    def __init__(self, settings, real):
        self.procs = {}
        try:
            for name, extra in settings.items():
                env = {k: v for k, v in os.environ.items() if k not in BLAS_THREAD_VARIABLES} | extra
                self.procs[name] = subprocess.Popen(
                    [sys.executable, os.path.abspath(__file__), "--worker"] + (["--real"] if real else []),
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        except BaseException:
            self.close()
            raise

    def measure(self, name, sizes, steps):
        proc = self.procs[name]
        proc.stdin.write(json.dumps({"sizes": list(sizes), "steps": steps}) + "\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the {name!r} worker stopped (exit status {proc.wait()})")
        return json.loads(line)

    def close(self):
        for proc in self.procs.values():
            _stop(proc)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _stop(proc):
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            stream.close()


class busy_process:
    """Context manager: one competing pure-Python busy loop, at most ``limit`` seconds, stopped on exit."""

    def __init__(self, limit):
        self.limit = limit
        self.proc = None

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", BUSY_LOOP, str(self.limit)], stdout=subprocess.PIPE, text=True)
        try:
            if self.proc.stdout.readline().strip() != "ready":
                raise RuntimeError("the competing busy process did not start")
            time.sleep(0.05)  # let the scheduler see it busy
        except BaseException:
            _stop(self.proc)
            raise
        return self

    def __exit__(self, *exc):
        _stop(self.proc)
        return False


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few steps, one round (a smoke test)")
    parser.add_argument("--steps", type=int, default=600, help="steps per epoch (default: 600 = 60,000 / 100)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds; the best time of each cell is kept")
    parser.add_argument("--busy-limit", type=float, default=900.0, help="seconds after which the busy process stops itself")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--real", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.real)
        return None

    from bioplastic._threads import blas_description, usable_cpus

    steps = 20 if args.quick else args.steps
    repeats = 1 if args.quick else args.repeats
    real = bool(os.environ.get("BIOPLASTIC_DATA_DIR")) and not args.quick
    settings = {"default": {}, "OPENBLAS_NUM_THREADS=1": {"OPENBLAS_NUM_THREADS": "1"}}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    best = {}
    threads = {}
    with Workers(settings, real) as workers:
        for _ in range(repeats):  # interleaved rounds, best of each cell: robust to load from other processes
            for sizes in SIZES:
                for condition in ("quiet", "contended"):
                    for name in settings:
                        if condition == "contended":
                            with busy_process(args.busy_limit):
                                result = workers.measure(name, sizes, steps)
                        else:
                            result = workers.measure(name, sizes, steps)
                        key = (sizes, name, condition)
                        best[key] = min(best.get(key, float("inf")), result["seconds"])
                        threads[sizes, name] = result["blas_threads"]

    blas, _ = blas_description()
    what = "real MNIST" if real else "random data of MNIST's shape"
    print(f"NP epoch: {steps} steps of batch {BATCH} + outputs on {N_TEST:,} test samples, float32, {what}; "
          f"{usable_cpus()} usable CPU(s); {blas}")
    print(f"load average when the run started: {load:.2f} (other processes slow both columns; the busy process adds one)")
    print(f"{'network':<11} {'setting':<24} {'BLAS thr.':>9} {'quiet':>9} {'contended':>10} {'slowdown':>9}")
    worst = 0.0
    for sizes in SIZES:
        for name in settings:
            quiet, contended = best[sizes, name, "quiet"], best[sizes, name, "contended"]
            ratio = contended / quiet
            if name == "default":
                worst = max(worst, ratio)
            print(f"{'-'.join(map(str, sizes)):<11} {name:<24} {threads[sizes, name]!s:>9} {quiet:8.3f}s {contended:9.3f}s "
                  f"{ratio:8.2f}x")
    print(f"(one competing busy process; goal: slowdown <= 1.5 with the default settings{', --quick: indicative only' if args.quick else ''})")
    print(f"contention slowdown = {worst:.2f}")
    return worst


if __name__ == "__main__":
    main()
